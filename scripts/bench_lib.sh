# Shared by the benchmark scripts (sourced, not run): messages, the gantry binary, local
# registries on free loopback ports, and timing. The sourcing script sets BENCH_NAME first
# and calls bench_workdir for its temp dir.

say() { printf '%s\n' "$BENCH_NAME: $*" >&2; }
die() { printf '%s\n' "$BENCH_NAME: error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "\`$1\` not found on PATH: $2"; }

declare -A REG_PID=() REG_PORT=() REG_DIR=() REG_ACCESS=()

# A temp dir for the run (WORK, with WORK/logs and an empty WORK/results.tsv as RESULTS),
# removed at exit with every registry stopped (kept with BENCH_KEEP=1).
bench_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$BENCH_NAME.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    mkdir -p "$WORK/logs"
    RESULTS=$WORK/results.tsv
    : >"$RESULTS"
}

bench_cleanup() {
    local rc=$?
    set +e
    bench_stop_all
    if [[ ${BENCH_KEEP:-} == 1 ]]; then
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}

# Stops every registry still running (from the EXIT trap).
bench_stop_all() {
    local name
    for name in "${!REG_PID[@]}"; do
        stop_registry "$name"
    done
}

# GANTRY: the given binary, or `cargo build --release` (plus any examples named in
# BENCH_EXAMPLES, built beside it).
bench_gantry_binary() {
    if [[ -n ${GANTRY:-} ]]; then
        if [[ $GANTRY != */* ]]; then
            GANTRY=$(command -v "$GANTRY") || die "GANTRY=$GANTRY: not found on PATH"
        fi
        [[ -f $GANTRY && -x $GANTRY ]] || die "GANTRY=$GANTRY is not an executable file"
        GANTRY=$(cd "$(dirname "$GANTRY")" && pwd)/$(basename "$GANTRY") # we cd into the temp dir
    else
        need cargo "install Rust, or point GANTRY at a gantry binary"
        say "building gantry (cargo build --release)..."
        (cd "$REPO_ROOT" && cargo build --release --bin gantry) >&2 ||
            die "cargo build --release failed (see above)"
        GANTRY=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/gantry
        [[ -x $GANTRY ]] || die "built, but $GANTRY is missing"
    fi
    local example
    for example in ${BENCH_EXAMPLES:-}; do
        say "building example $example (cargo build --release --example $example)..."
        (cd "$REPO_ROOT" && cargo build --release --example "$example") >&2 ||
            die "cargo build --release --example $example failed (see above)"
    done
    say "gantry: $GANTRY"
}

free_ports() { # prints $1 distinct free loopback ports, one per line
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# name: starts it on REG_PORT[name] with storage REG_DIR[name] (REG_ACCESS[name]=1 logs
# every request to $WORK/logs/registry-NAME.log), waits for /v2/
start_registry() {
    local name=$1 port=${REG_PORT[$1]} dir=${REG_DIR[$1]} cfg=$WORK/registry-$1.yml i
    local no_access=true
    [[ ${REG_ACCESS[$name]:-} == 1 ]] && no_access=false
    mkdir -p "$dir" "$WORK/logs"
    cat >"$cfg" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: $no_access
storage:
  filesystem:
    rootdirectory: $dir
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$cfg" >>"$WORK/logs/registry-$name.log" 2>&1 &
    REG_PID[$name]=$!
    for ((i = 0; i < 200; i++)); do
        if curl -fs -o /dev/null "http://127.0.0.1:$port/v2/"; then
            return 0
        fi
        if ! kill -0 "${REG_PID[$name]}" 2>/dev/null; then
            cat "$WORK/logs/registry-$name.log" >&2
            die "registry $name exited on start (port $port)"
        fi
        sleep 0.05
    done
    die "registry $name did not answer on 127.0.0.1:$port within 10 s"
}

stop_registry() {
    local name=$1 pid=${REG_PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    REG_PID[$name]=
}

# Empty registry, outside any timed part: stop, wipe storage, restart, flush dirty pages.
reset_registry() {
    stop_registry "$1"
    rm -rf "${REG_DIR[$1]}"
    start_registry "$1"
    sync
}

drop_skopeo_cache() {
    rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb \
        "${HOME:-/nonexistent}/.local/share/containers/cache/blob-info-cache-v1.boltdb"
}

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
