# syntax=docker/dockerfile:1
# hearth in a container: build on Debian bookworm, run as a non-root user on bookworm-slim.
#   docker build -t hearth .
#   docker run --rm -p 127.0.0.1:8080:8080 -v hearth-models:/models -e HEARTH_API_KEYS=$(openssl rand -hex 32) hearth
# With nginx in front: compose.yaml.

# ---- build --------------------------------------------------------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libcli11-dev libspdlog-dev nlohmann-json3-dev libcpp-httplib-dev libboost-dev libyaml-cpp-dev \
      libpcre2-dev libutf8proc-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev zlib1g-dev libedit-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Portable build: the kernels pick AVX2 / AVX-512 at run time, so no -march=native here.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEARTH_TESTS=OFF \
 && ninja -C /build hearth \
 && strip /build/hearth \
 && /build/hearth --version
# The Debian packages that provide the shared libraries the binary links (the runtime stage
# installs exactly these, so adding a library to the build cannot break the image).
RUN ldd /build/hearth | awk '/=> \//{print $3}' | while read -r f; do \
      dpkg -S "$f" 2>/dev/null || dpkg -S "$(readlink -f "$f")" 2>/dev/null || dpkg -S "/usr$f"; \
    done | cut -d: -f1 | sort -u > /build/runtime-packages \
 && cat /build/runtime-packages

# ---- run ----------------------------------------------------------------------------------
FROM debian:bookworm-slim
COPY --from=build /build/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && groupadd --system --gid 10001 hearth \
 && useradd --system --uid 10001 --gid hearth --home-dir /var/lib/hearth --create-home --shell /usr/sbin/nologin hearth \
 && install -d -o hearth -g hearth -m 750 /models
COPY --from=build /build/hearth /usr/local/bin/hearth

# In a container hearth listens on all interfaces of its own network namespace; publish the
# port on 127.0.0.1 only, or put the proxy in front (compose.yaml). Keys: HEARTH_API_KEYS.
ENV HEARTH_HOST=0.0.0.0 \
    HEARTH_PORT=8080 \
    HEARTH_MODELS_DIR=/models
VOLUME ["/models"]
EXPOSE 8080
USER hearth:hearth
WORKDIR /var/lib/hearth
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${HEARTH_PORT}/health" > /dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/hearth"]
CMD ["serve"]
