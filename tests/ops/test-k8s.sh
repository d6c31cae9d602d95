#!/usr/bin/env bash
# deploy/k8s checked offline (no cluster), in seconds:
#  - every overlay rendered by kustomize (`kubectl kustomize`) and every object validated by
#    tests/ops/k8s/validate.mjs: the Kubernetes API schemas, KEDA's, the Gateway API's and
#    the prometheus-operator's (npm, tests/ops/k8s/package-lock.json), unknown field names,
#    and the objects against each other, the Dockerfile's image (user, port) and hearth;
#  - each manifest file and each patch file on its own too (what remains without kubectl);
#  - deliberately broken manifests: the validator must fail on each, naming the problem;
#  - with a hearth binary: hearth started with the environment the base Deployment gives it
#    (its ConfigMap): /health and /readyz answer without a key, /metrics too
#    (HEARTH_PUBLIC_METRICS), and the metrics the HPA, KEDA and the endpoint picker read are
#    among its families; and the HEARTH_PORT a Service named hearth would inject is refused.
#
#   tests/ops/test-k8s.sh [path/to/hearth]
#
# InferencePool has no schema published as a package: it is checked against the objects it
# names; set HEARTH_K8S_CRDS to CRD files (space-separated) to check it against its CRD too.
# Exit code 0 = all passed.
# shellcheck disable=SC2015  # `ok` never fails, so `test && ok || fail` is an if/else
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:+$(readlink -f "$1")}
K8S="$ROOT/deploy/k8s"
TOOLS="$ROOT/tests/ops/k8s"
TMP=$(mktemp -d)
SERVER=
cleanup() {
    [ -z "$SERVER" ] || { kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; }
    rm -rf "$TMP"
}
trap cleanup EXIT
failures=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# ---- the validator's packages (pinned by the lockfile) ----
if [ ! -d "$TOOLS/node_modules" ] || [ "$TOOLS/package-lock.json" -nt "$TOOLS/node_modules/.package-lock.json" ]; then
    (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
fi

# ---- facts the manifests must agree with ----
IMAGE_USER=$(sed -n 's/.*useradd .*--uid \([0-9][0-9]*\).*/\1/p' "$ROOT/Dockerfile")
IMAGE_PORT=$(sed -n 's/^EXPOSE \([0-9][0-9]*\).*/\1/p' "$ROOT/Dockerfile")
IMAGE_BINARY=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p' "$ROOT/Dockerfile")
[ -n "$IMAGE_USER" ] && [ -n "$IMAGE_PORT" ] && [ -n "$IMAGE_BINARY" ] &&
    ok "Dockerfile: user $IMAGE_USER, port $IMAGE_PORT, entrypoint $IMAGE_BINARY" ||
    fail "Dockerfile: user, port or entrypoint not found"
grep -q "$IMAGE_BINARY pull" "$K8S/base/deployment.yaml" &&
    ok "the pull-models init container runs the image's binary" ||
    fail "the pull-models init container does not run $IMAGE_BINARY pull"

# The routes the probes use and the metric families the autoscalers and the EPP read: from a
# running hearth started with the base Deployment's environment when there is a binary, else
# from the sources and docs/OPERATIONS.md.
ROUTES=
METRICS=
if [ -n "$BIN" ]; then
    mkdir -p "$TMP/models" "$TMP/state" "$TMP/home"
    cp "$ROOT/tests/data/models/stories260K.gguf" "$TMP/models/"
    # The base has no patches: its ConfigMap and Deployment files are what a cluster gets.
    cat "$K8S/base/configmap.yaml" <(echo ---) "$K8S/base/deployment.yaml" | node "$TOOLS/hearth-env.mjs" > "$TMP/env"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    KEY="k8s-test-key-$RANDOM$RANDOM"
    # The pod's environment, with this machine's loopback, paths and a key of the test's own.
    mapfile -t POD_ENV < "$TMP/env"
    env -i PATH="$PATH" HOME="$TMP/home" "${POD_ENV[@]}" \
        HEARTH_HOST=127.0.0.1 HEARTH_PORT="$PORT" HEARTH_MODELS_DIR="$TMP/models" \
        HEARTH_STATE_DIR="$TMP/state" HEARTH_API_KEYS="$KEY" \
        "$BIN" serve > "$TMP/serve.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.1
    done
    code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$1"; }
    for route in /health /readyz; do
        [ "$(code "$route")" = 200 ] && { ok "hearth with the pod's environment: GET $route 200 without a key"; ROUTES="$ROUTES${ROUTES:+,}$route"; } ||
            fail "hearth with the pod's environment: GET $route is not 200 ($(tail -3 "$TMP/serve.log"))"
    done
    [ "$(code /v1/models)" = 401 ] && ok "the API still wants a key (401)" || fail "GET /v1/models without a key is not 401"
    if curl -fsS "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"; then
        ok "GET /metrics without a key (HEARTH_PUBLIC_METRICS from the ConfigMap)"
        METRICS=$(sed -n 's/^# TYPE \(hearth_[a-z0-9_]*\) .*/\1/p' "$TMP/metrics" | paste -sd, -)
    else
        fail "GET /metrics without a key failed: the ConfigMap's HEARTH_PUBLIC_METRICS did not take"
    fi
    kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
    SERVER=
    # What `enableServiceLinks: false` prevents: a Service named hearth injects this.
    rc=0
    env -i PATH="$PATH" HOME="$TMP/home" HEARTH_PORT=tcp://127.0.0.1:8080 \
        HEARTH_MODELS_DIR="$TMP/models" timeout 10 "$BIN" serve > "$TMP/links.log" 2>&1 || rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q -i 'port' "$TMP/links.log"; then
        ok "hearth refuses the HEARTH_PORT a Service named hearth injects: $(grep -m1 -i 'port' "$TMP/links.log" | cut -c1-100)"
    else
        fail "hearth did not refuse HEARTH_PORT=tcp://127.0.0.1:8080 (exit $rc): $(tail -2 "$TMP/links.log")"
    fi
else
    echo "note no hearth binary given: routes from src/server/server.cpp, metrics from docs/OPERATIONS.md"
    for route in /health /readyz; do
        grep -q "router.add(\"GET\", \"$route\"" "$ROOT/src/server/server.cpp" && ROUTES="$ROUTES${ROUTES:+,}$route"
    done
    METRICS=$(sed -n 's/^| `\(hearth_[a-z0-9_]*\)` |.*/\1/p' "$ROOT/docs/OPERATIONS.md" | paste -sd, -)
fi
[ -n "$METRICS" ] || { fail "no hearth metric families found"; METRICS=none; }
[ -n "$ROUTES" ] || ROUTES=none

CRDS=()
for crd in ${HEARTH_K8S_CRDS:-}; do CRDS+=(--crd "$crd"); done
validate() {
    node "$TOOLS/validate.mjs" "${CRDS[@]}" --image-user "$IMAGE_USER" --image-port "$IMAGE_PORT" \
        --routes "$ROUTES" --metrics "$METRICS" "$@"
}

# ---- each file on its own ----
mapfile -t manifests < <(cd "$K8S" && grep -L -E '^kind: (Kustomization|Component)$' $(find . -name '*.yaml' ! -name 'kustomization.yaml' ! -name 'prometheus-adapter-values.yaml' ! -name 'resources.yaml' | sort))
(cd "$K8S" && validate "${manifests[@]}") > "$TMP/files.out" && ok "each manifest file: $(tail -1 "$TMP/files.out")" ||
    { fail "manifest files:"; cat "$TMP/files.out"; }
mapfile -t patches < <(cd "$K8S" && find . -name 'resources.yaml' | sort)
(cd "$K8S" && validate --partial "${patches[@]}") > "$TMP/patches.out" && ok "each patch file (field names): $(tail -1 "$TMP/patches.out")" ||
    { fail "patch files:"; cat "$TMP/patches.out"; }
# The prometheus-adapter rule serves the metric the HPA asks for, under its own name.
rule=$(sed -n 's/^ *as: "\(hearth_[a-z0-9_]*\)"/\1/p' "$K8S/overlays/with-autoscaling/prometheus-adapter-values.yaml")
grep -q "name: $rule\$" "$K8S/overlays/with-autoscaling/hpa.yaml" && [[ ",$METRICS," == *",$rule,"* ]] &&
    ok "prometheus-adapter serves $rule, the HPA's metric, a hearth family" ||
    fail "prometheus-adapter's rule ($rule) is not the HPA's metric or not a hearth family"

# ---- every overlay rendered ----
if command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | grep -q 'Kustomize Version: v[4-9]'; then
    for dir in base $(cd "$K8S" && echo overlays/*); do
        name=${dir#overlays/}
        if ! kubectl kustomize "$K8S/$dir" > "$TMP/$name.yaml" 2> "$TMP/render.err"; then
            fail "$dir does not render: $(head -3 "$TMP/render.err")"
            continue
        fi
        validate --set "$TMP/$name.yaml" > "$TMP/$name.out" &&
            ok "$dir rendered: $(tail -1 "$TMP/$name.out")$(grep -c '^note' "$TMP/$name.out" | sed 's/^0$//; s/.\+/ (& not schema-checked: see notes)/')" ||
            { fail "$dir:"; grep -v '^ok' "$TMP/$name.out"; }
        grep '^note' "$TMP/$name.out" | sed 's/^/     /' || true
    done

    # ---- broken manifests: the validator must refuse each, for the right reason ----
    broken() {  # NAME RENDERED SED-SCRIPT EXPECTED
        sed "$3" "$TMP/$2.yaml" > "$TMP/broken.yaml"
        if validate --set "$TMP/broken.yaml" > "$TMP/broken.out"; then
            fail "broken ($1): the validator passed it"
        elif grep -q -F -- "$4" "$TMP/broken.out"; then
            ok "broken ($1): refused: $(grep -m1 -F -- "$4" "$TMP/broken.out" | cut -c1-110)"
        else
            fail "broken ($1): refused, but not for '$4':"; cat "$TMP/broken.out"
        fi
    }
    broken "misspelt field" base 's/readinessProbe:/readinesProbe:/' "unknown field spec.template.spec.containers[0].readinesProbe"
    broken "wrong type" base 's/replicas: 1$/replicas: one/' "spec/replicas must be integer"
    broken "YAML syntax" base 's/^kind: Service$/kind: [Service/' "YAML:"
    broken "Service selects no pod" base '/^kind: Service$/,/^---$/ s/component: server/component: sever/' "matches no pods"
    broken "writable root filesystem" base 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "root filesystem is not read-only"
    broken "not the image's user" base 's/runAsUser: 10001/runAsUser: 1000/' "is not the image's user"
    broken "service links on" base 's/enableServiceLinks: false/enableServiceLinks: true/' "set enableServiceLinks: false"
    broken "probe on a missing route" base 's|path: /readyz|path: /ready|' "hearth has no route GET /ready"
    broken "HPA on a missing metric" with-autoscaling 's/name: hearth_waiting_sequences/name: hearth_queue_length/' "hearth has no metric hearth_queue_length"
    broken "KEDA threshold not a string" with-keda 's/threshold: "1"/threshold: 1/' "threshold must be string"
    broken "HTTPRoute path type" inference-gateway 's/type: PathPrefix/type: Prefix/' "path/type must be equal to one of the allowed values"
    broken "InferencePool port" inference-gateway 's/- number: 8080/- number: 8000/' "targetPort 8000 is not a containerPort"
    broken "EPP reads a missing metric" inference-gateway 's/kvUsageSpec: hearth_kv_cache_usage_ratio/kvUsageSpec: hearth_kv_usage/' "hearth has no metric hearth_kv_usage"
else
    echo "skip no kubectl with kustomize v4 or later: the overlays were not rendered, only each file on its own was checked"
fi

echo "$([ "$failures" = 0 ] && echo "k8s: all passed" || echo "k8s: $failures failed")"
[ "$failures" = 0 ]
