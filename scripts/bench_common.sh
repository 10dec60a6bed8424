# Sourced by the bench scripts: the gantry binary to time, a local docker-registry
# (Distribution) on a free loopback port, and the port picker it uses. Needs curl,
# python3, and the calling script's `die`, `need` and `say` functions.

# Sets GANTRY to an absolute path: $GANTRY if given, else a release build of the
# repository at $1.
gantry_binary() {
    local root=$1
    if [[ -n ${GANTRY:-} ]]; then
        [[ -x $GANTRY ]] || die "GANTRY=$GANTRY is not executable"
        GANTRY=$(cd "$(dirname "$GANTRY")" && pwd)/$(basename "$GANTRY")
    else
        need cargo "install Rust, or point GANTRY at a gantry binary"
        say "building gantry (cargo build --release)..."
        (cd "$root" && cargo build --release --bin gantry) >&2 || die "cargo build failed"
        GANTRY=${CARGO_TARGET_DIR:-$root/target}/release/gantry
    fi
}

# A loopback port nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry DIR LOG: serves a registry whose storage is DIR, logging to LOG, and
# waits until /v2/ answers. Sets REGISTRY (host:port) and REGISTRY_PID.
start_registry() {
    local dir=$1 log=$2 port i
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir.yml" <<EOF_REGISTRY
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir
http:
  addr: 127.0.0.1:$port
EOF_REGISTRY
    docker-registry serve "$dir.yml" >"$log" 2>&1 &
    REGISTRY_PID=$!
    REGISTRY=127.0.0.1:$port
    for ((i = 0; i < 200; i++)); do
        curl -fs -o /dev/null "http://$REGISTRY/v2/" && return 0
        kill -0 "$REGISTRY_PID" 2>/dev/null || { cat "$log" >&2; die "registry exited"; }
        sleep 0.05
    done
    kill "$REGISTRY_PID" 2>/dev/null
    die "registry on $REGISTRY did not answer"
}
