#!/usr/bin/env bash
# Installs hearth as a hardened systemd service on Debian 12, bound to 127.0.0.1 behind a proxy.
# Safe to run again: it keeps an existing env file (and its API key) and only changes what differs.
#
#   sudo scripts/setup-hearth.sh                      # deps, build, user, dirs, env file, unit, start
#   sudo scripts/setup-hearth.sh --with-nginx --domain llm.example.com
#   scripts/setup-hearth.sh --dry-run                 # print what would be done, change nothing
#   scripts/setup-hearth.sh --prefix /tmp/root        # install into a staging root (no systemctl)
#   sudo scripts/setup-hearth.sh --uninstall [--purge]
#
# Layout (all under --prefix, default /):
#   /usr/local/bin/hearth                  binary
#   /etc/hearth/hearth.env                 settings + API key (root:root 600; systemd reads it)
#   /var/lib/hearth                        home (HOME) of the `hearth` user; holds the models dir
#   /var/lib/hearth/models                 models (HEARTH_MODELS_DIR), one YAML per model
#   /etc/systemd/system/hearth.service     the unit (deploy/systemd/hearth.service.in)
#   /etc/nginx/conf.d/hearth.conf          with --with-nginx (deploy/nginx/)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

PREFIX=/
DRY=0
UNINSTALL=0
PURGE=0
DEPS=1
BINARY=""
USER_NAME=hearth
CREATE_USER=auto
WITH_NGINX=0
DOMAIN=hearth.example.com
PORT=8080
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; cat <<'U'
Options:
  --dry-run            print every action, change nothing
  --prefix DIR         install under DIR (staging / tests); skips apt-get, systemctl, user creation
  --binary FILE        install this hearth binary instead of building one
  --no-deps            do not apt-get install build dependencies
  --user NAME          service user (default hearth)
  --create-user        create the user even with --prefix (it is a real system user)
  --port N             HEARTH_PORT for a new env file (default 8080)
  --with-nginx         also install nginx with deploy/nginx/hearth.conf for --domain
  --domain NAME        server_name for nginx (default hearth.example.com)
  --uninstall          stop and remove the service, unit and binary (keeps config, models, state)
  --purge              with --uninstall: also remove config, models, state and the user
U
}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --prefix) PREFIX=$2; shift ;;
    --binary) BINARY=$2; shift ;;
    --no-deps) DEPS=0 ;;
    --user) USER_NAME=$2; shift ;;
    --create-user) CREATE_USER=yes ;;
    --port) PORT=$2; shift ;;
    --with-nginx) WITH_NGINX=1 ;;
    --domain) DOMAIN=$2; shift ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup-hearth: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PREFIX=${PREFIX%/}
STAGED=0; [ -z "$PREFIX" ] || STAGED=1
if [ "$CREATE_USER" = auto ]; then CREATE_USER=$([ $STAGED -eq 0 ] && echo yes || echo no); fi
BIN_DIR=/usr/local/bin
CONF_DIR=/etc/hearth
ENV_FILE=$CONF_DIR/hearth.env
STATE_DIR=/var/lib/hearth
MODELS_DIR=$STATE_DIR/models
UNIT=/etc/systemd/system/hearth.service
P() { echo "$PREFIX$1"; }   # path on this machine for an installed path

if [ "$(id -u)" -ne 0 ] && [ $STAGED -eq 0 ] && [ $DRY -eq 0 ]; then
  echo "setup-hearth: run as root (sudo), or use --prefix / --dry-run" >&2; exit 1
fi
log() { echo "setup-hearth: $*"; }
run() {  # prints and runs a command (only prints with --dry-run)
  if [ $DRY -eq 1 ]; then echo "would run: $*"; else echo "+ $*"; "$@"; fi
}
write_file() {  # DEST MODE OWNER:GROUP < content; replaces only when the content differs
  local dest=$1 mode=$2 owner=$3 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"; log "unchanged $dest"
  elif [ $DRY -eq 1 ]; then
    rm -f "$tmp"; echo "would write: $dest (mode $mode, $owner)"
  else
    install -D -m "$mode" "$tmp" "$dest"; rm -f "$tmp"; log "wrote $dest (mode $mode)"
  fi
  [ $DRY -eq 1 ] || set_owner "$owner" "$dest"
}
user_exists() { getent passwd "$USER_NAME" >/dev/null 2>&1; }
set_owner() {  # OWNER:GROUP PATH...; skipped when the user does not exist (staging)
  local owner=$1; shift
  case "$owner" in *"$USER_NAME"*) user_exists || return 0 ;; esac
  [ "$(id -u)" -eq 0 ] || return 0
  chown "$owner" "$@"
}
systemd_live() { [ $STAGED -eq 0 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# ---- uninstall ------------------------------------------------------------------------------
if [ $UNINSTALL -eq 1 ]; then
  if systemd_live; then
    run systemctl disable --now hearth.service || true
  fi
  for f in "$(P $UNIT)" "$(P $BIN_DIR)/hearth" "$(P /etc/nginx/conf.d/hearth.conf)"; do
    [ ! -e "$f" ] || run rm -f "$f"
  done
  if [ $PURGE -eq 1 ]; then
    for d in "$(P $CONF_DIR)" "$(P $STATE_DIR)" "$(P /etc/nginx/hearth)"; do [ ! -e "$d" ] || run rm -rf "$d"; done
    if user_exists && [ "$CREATE_USER" = yes ]; then run userdel "$USER_NAME"; fi
  else
    log "kept $(P $CONF_DIR), $(P $STATE_DIR) (models, state) and the $USER_NAME user; --purge removes them"
  fi
  if systemd_live; then run systemctl daemon-reload; fi
  if systemd_live && command -v nginx >/dev/null; then run systemctl reload nginx || true; fi
  log "uninstalled"
  exit 0
fi

# ---- 1. dependencies and the binary ---------------------------------------------------------
if [ $DEPS -eq 1 ] && [ -z "$BINARY" ] && [ $STAGED -eq 0 ]; then
  run "$ROOT/scripts/install-deps.sh" --serve
fi
if [ -z "$BINARY" ]; then
  # Only the binary (not the tests): TARGETS=hearth.
  if [ $DRY -eq 1 ]; then echo "would run: TARGETS=hearth $ROOT/scripts/build.sh build"; else TARGETS=hearth run "$ROOT/scripts/build.sh" build; fi
  BINARY=$ROOT/build/hearth
fi
if [ $DRY -eq 0 ] && [ ! -x "$BINARY" ]; then echo "setup-hearth: no executable at $BINARY" >&2; exit 1; fi
if [ -f "$(P $BIN_DIR)/hearth" ] && [ -f "$BINARY" ] && cmp -s "$BINARY" "$(P $BIN_DIR)/hearth"; then
  log "unchanged $(P $BIN_DIR)/hearth"
else
  run install -D -m 755 "$BINARY" "$(P $BIN_DIR)/hearth"
fi

# ---- 2. user and directories ----------------------------------------------------------------
if user_exists; then
  log "user $USER_NAME exists"
elif [ "$CREATE_USER" = yes ]; then
  run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin \
    --comment "hearth LLM server" "$USER_NAME"
else
  log "not creating user $USER_NAME (staged install; --create-user to create it)"
fi
mkdir_owned() {  # DIR MODE OWNER
  if [ $DRY -eq 1 ]; then
    [ -d "$1" ] || echo "would create: $1 (mode $2, $3)"
  else
    install -d -m "$2" "$1"
    set_owner "$3" "$1"
  fi
}
mkdir_owned "$(P $CONF_DIR)" 750 "root:$USER_NAME"
mkdir_owned "$(P $STATE_DIR)" 750 "$USER_NAME:$USER_NAME"
mkdir_owned "$(P $MODELS_DIR)" 750 "$USER_NAME:$USER_NAME"

# ---- 3. env file with a generated key (kept when it exists) ---------------------------------
env_get() {
  if [ -f "$(P $ENV_FILE)" ]; then sed -n "s/^$1=//p" "$(P $ENV_FILE)" | tail -1 | tr -d '"'"'"; fi
}
if [ -f "$(P $ENV_FILE)" ]; then
  log "kept $(P $ENV_FILE) (its API key is unchanged)"
  if [ $DRY -eq 0 ]; then chmod 600 "$(P $ENV_FILE)"; set_owner root:root "$(P $ENV_FILE)"; fi
else
  mem_kib=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)
  KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')   # 256 bits, 64 hex characters
  {
    echo "# hearth settings: read by systemd (EnvironmentFile) and docker compose (env_file)."
    echo "# Mode 600: it holds the API keys. Generated by scripts/setup-hearth.sh on $(date -u +%F)."
    echo "HEARTH_HOST=127.0.0.1"
    echo "HEARTH_PORT=$PORT"
    echo "HEARTH_MODELS_DIR=$MODELS_DIR"
    echo "# Comma-separated; clients send Authorization: Bearer KEY. New key: openssl rand -hex 32"
    echo "HEARTH_API_KEYS=$KEY"
    echo "# HEARTH_THREADS=$(nproc)"
    echo "# Unit limits, applied when scripts/setup-hearth.sh runs (systemd syntax):"
    echo "HEARTH_MEMORY_MAX=$((mem_kib * 8 / 10 / 1024))M"
    echo "HEARTH_CPU_QUOTA=$(( $(nproc) * 100 ))%"
  } | write_file "$(P $ENV_FILE)" 600 root:root
  unset KEY
  [ $DRY -eq 1 ] || log "generated a 256-bit API key in $(P $ENV_FILE) (read it with: sudo grep HEARTH_API_KEYS $(P $ENV_FILE))"
fi
MEMORY_MAX=$(env_get HEARTH_MEMORY_MAX); MEMORY_MAX=${MEMORY_MAX:-80%}
CPU_QUOTA=$(env_get HEARTH_CPU_QUOTA); CPU_QUOTA=${CPU_QUOTA:-$(( $(nproc) * 100 ))%}

# ---- 4. systemd unit ------------------------------------------------------------------------
# Paths inside the unit are the installed ones; under --prefix they point into the prefix so
# that `systemd-analyze verify` can check them on this machine.
U() { if [ $STAGED -eq 1 ]; then P "$1"; else echo "$1"; fi; }
sed -e "s#@USER@#$USER_NAME#g" -e "s#@ENV_FILE@#$(U $ENV_FILE)#g" -e "s#@STATE_DIR@#$(U $STATE_DIR)#g" \
    -e "s#@MODELS_DIR@#$(U $MODELS_DIR)#g" -e "s#@BINARY@#$(U $BIN_DIR)/hearth#g" \
    -e "s#@MEMORY_MAX@#$MEMORY_MAX#g" -e "s#@CPU_QUOTA@#$CPU_QUOTA#g" \
    "$ROOT/deploy/systemd/hearth.service.in" | write_file "$(P $UNIT)" 644 root:root

# ---- 5. nginx (optional) --------------------------------------------------------------------
if [ $WITH_NGINX -eq 1 ]; then
  if [ $STAGED -eq 0 ] && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    run apt-get install -y --no-install-recommends nginx
  fi
  sed -e "s/hearth.example.com/$DOMAIN/g" -e "s#127.0.0.1:8080#127.0.0.1:$(env_get HEARTH_PORT || echo "$PORT")#" \
    "$ROOT/deploy/nginx/hearth.conf" | write_file "$(P /etc/nginx/conf.d/hearth.conf)" 644 root:root
  [ -f "$(P /etc/nginx/hearth/models.map)" ] || write_file "$(P /etc/nginx/hearth/models.map)" 644 root:root < "$ROOT/deploy/nginx/models.map"
  [ -f "$(P /etc/nginx/hearth/gateway-keys.map)" ] || \
    write_file "$(P /etc/nginx/hearth/gateway-keys.map)" 640 root:www-data < "$ROOT/deploy/nginx/gateway-keys.map"
  if [ ! -f "$(P /etc/ssl/hearth/fullchain.pem)" ]; then
    if [ $DRY -eq 1 ]; then echo "would create a self-signed certificate for $DOMAIN in $(P /etc/ssl/hearth)"
    else
      install -d -m 755 "$(P /etc/ssl/hearth)"
      openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$DOMAIN" \
        -keyout "$(P /etc/ssl/hearth/privkey.pem)" -out "$(P /etc/ssl/hearth/fullchain.pem)" 2>/dev/null
      chmod 600 "$(P /etc/ssl/hearth/privkey.pem)"
      log "self-signed certificate for $DOMAIN in $(P /etc/ssl/hearth): replace it (docs/OPERATIONS.md, TLS)"
    fi
  fi
  if systemd_live; then run nginx -t && run systemctl reload-or-restart nginx; fi
fi

# ---- 6. start -------------------------------------------------------------------------------
if systemd_live; then
  run systemctl daemon-reload
  run systemctl enable hearth.service
  run systemctl restart hearth.service
  log "started; check with: systemctl status hearth; hearth doctor --env-file $ENV_FILE"
else
  log "installed under ${PREFIX:-/} (systemd not running here or staged install: nothing started)"
fi
log "next: sudo -u $USER_NAME env HEARTH_MODELS_DIR=$MODELS_DIR scripts/download-cpu-optimized-models.sh"
