#!/usr/bin/env bash
# Benchmarks gantry at fleet scale: 1,000 services x 3 environments in one registry.
#
# Builds, outside any timed part, one local docker-registry with the shared layout
# (`dev/svc-0001`, `stage/svc-0001`, `prod/svc-0001`, ...): a few blobs uploaded once and
# mounted into every repository, one manifest PUT per image (examples/bench_scale.rs).
# Every repository holds 3 SHA-tagged images and its environment's mutable tag (`latest`,
# `stage`, `prod`) on the newest; images are tagged with the commits of a real git
# repository the configuration names in `[git] path`. The registry's access log counts
# the requests of every run. Then, over ROUNDS rounds:
#
#   floor            plain curl (one process, 16 requests in parallel on kept-alive
#                    connections) sending the requests a status without a cache needs:
#                    every repository's tag list, a HEAD of every tag gantry reads
#   status           `gantry status`: cold (state directory removed first), warm (kept),
#                    and `--fresh` when the binary has it; with the mutable tags
#                    configured, and again with environments without one (then a status
#                    reads only SHA tags, as the issue's first measurement did)
#   console          the console in process (examples/bench_scale.rs): time to the first
#                    cell of the Environments matrix, to the whole matrix, and how long a
#                    key (`j`, sent every 20 ms) takes to show while it loads
#   no-op promotion  `gantry promote` of an image the target already holds with both tags,
#                    with the real git repository configured, and without one
#   train            one `gantry promote` of 20 images of 10 MB each into a second, empty
#                    registry, vs 20 sequential `skopeo copy` of the same images; for each,
#                    the CPU each registry used (utime + stime from /proc/PID/stat, before
#                    and after), the client's CPU and the requests the target logged, so
#                    the floor the registries set is measured in the same run
#
# Prints each case's medians (wall, requests, peak RSS) and a markdown table. A
# measurement, not a test: it exits 0 whether or not the targets are met.
#
# Environment:
#   ROUNDS         rounds per case (default 5)
#   SERVICES       services in the fleet (default 1000)
#   GANTRY         path to a gantry binary (default: `cargo build --release` and use that;
#                  the examples are always built from this checkout)
#   GANTRY_BEFORE  another gantry binary (say, of the commit before the tag cache): its
#                  status runs in the same rounds, as "status, GANTRY_BEFORE"
#   BENCH_SCALE    path to a built examples/bench_scale (default: build it)
#   BENCH_KEEP=1   keep the temp dir (registries' storage, configs, logs)
#   BENCH_ONLY     `train`: only the train (no fleet is built; the other cases are
#                  skipped); unset: every case

set -euo pipefail
export LC_ALL=C

ROUNDS=${ROUNDS:-5}
SERVICES=${SERVICES:-1000}
TRAIN_IMAGES=${TRAIN_IMAGES:-20}
TRAIN_BYTES=${TRAIN_BYTES:-10485760}
BENCH_ONLY=${BENCH_ONLY:-}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

BENCH_NAME=bench-scale
[[ -n ${BENCH_SCALE:-} ]] || BENCH_EXAMPLES=bench_scale
# shellcheck source=scripts/bench_lib.sh
source "$SCRIPT_DIR/bench_lib.sh"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ $SERVICES =~ ^[1-9][0-9]*$ ]] || die "SERVICES must be a positive integer, got '$SERVICES'"
[[ -z $BENCH_ONLY || $BENCH_ONLY == train ]] || die "BENCH_ONLY must be empty or 'train', got '$BENCH_ONLY'"
only_train() { [[ $BENCH_ONLY == train ]]; }
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash >= 5 (EPOCHREALTIME)"
need docker-registry "install the CNCF Distribution registry (apt-get install docker-registry)"
need skopeo "install skopeo (apt-get install skopeo)"
need curl "curl is the floor"
need git "git makes the repository the images were built from"
need python3 "python3 summarises the runs"
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) measures peak RSS: apt-get install time"

bench_workdir

bench_gantry_binary
BENCH=${BENCH_SCALE:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/examples/bench_scale}
[[ -x $BENCH ]] || die "built, but $BENCH is missing"

# ---------------------------------------------------------------- registries and fleet

mapfile -t PORTS < <(free_ports 2)
REG_PORT[fleet]=${PORTS[0]}
REG_PORT[target]=${PORTS[1]}
REG_DIR[fleet]=$WORK/fleet-storage
REG_DIR[target]=$WORK/target-storage
REG_ACCESS[fleet]=1
REG_ACCESS[target]=1
FLEET=127.0.0.1:${REG_PORT[fleet]}
TARGET=127.0.0.1:${REG_PORT[target]}
start_registry fleet
start_registry target
ACCESS_LOG=$WORK/logs/registry-fleet.log
TARGET_LOG=$WORK/logs/registry-target.log

# The application repository: five commits on develop, main at the first.
REPO=$WORK/app
git init -q -b develop "$REPO"
for i in 1 2 3 4 5; do
    git -C "$REPO" -c user.name=bench -c user.email=bench@example.com \
        commit -q --allow-empty -m "Change $i"
done
git -C "$REPO" branch main develop~4
mapfile -t COMMITS < <(git -C "$REPO" rev-list --reverse develop)

if ! only_train; then
    say "building the fleet: $SERVICES services x 3 environments in $FLEET..."
    "$BENCH" fleet "$FLEET" "$SERVICES" "${COMMITS[@]}" >&2 || die "building the fleet failed"
fi
say "pushing $TRAIN_IMAGES train images of $TRAIN_BYTES bytes..."
mapfile -t TRAIN < <("$BENCH" images "$FLEET" train "$TRAIN_IMAGES" "$TRAIN_BYTES") ||
    die "pushing the train's images failed"

# ---------------------------------------------------------------- configurations

write_config() { # file mutable(yes|no) git(yes|no) [train]
    {
        echo '[copy]'
        echo 'read_timeout_secs = 60'
        if [[ $3 == yes ]]; then
            printf '\n[git]\npath = "%s"\n' "$REPO"
        else
            printf '\n[git]\npath = "%s"\n' "$WORK/no-repository"
            printf '\n[ledger]\nenabled = false\n'
        fi
        local env from mutable s
        if [[ ${4:-} == train ]]; then
            printf '\n[[environment]]\nname = "train-src"\nregistry = "%s"\npath = "train"\nplain_http = true\n' "$FLEET"
            printf '\n[[environment]]\nname = "train-dst"\nregistry = "%s"\npath = "train"\nplain_http = true\nfrom = "train-src"\nmutable_tag = "released"\n' "$TARGET"
            for ((s = 1; s <= TRAIN_IMAGES; s++)); do
                printf '\n[[service]]\nname = "train-%02d"\n' "$s"
            done
            return 0
        fi
        for env in dev stage prod; do
            case $env in
            dev) from= mutable=latest ;;
            stage) from=dev mutable=stage ;;
            prod) from=stage mutable=prod ;;
            esac
            printf '\n[[environment]]\nname = "%s"\nregistry = "%s"\npath = "%s"\nplain_http = true\n' \
                "$env" "$FLEET" "$env"
            [[ -n $from ]] && printf 'from = "%s"\n' "$from"
            [[ $2 == yes ]] && printf 'mutable_tag = "%s"\n' "$mutable"
        done
        for ((s = 1; s <= SERVICES; s++)); do
            printf '\n[[service]]\nname = "svc-%04d"\n' "$s"
        done
    } >"$1"
}
CONFIG=$WORK/gantry.toml
CONFIG_SHA_ONLY=$WORK/gantry-sha-only.toml
CONFIG_NO_GIT=$WORK/gantry-no-git.toml
CONFIG_TRAIN=$WORK/gantry-train.toml
write_config "$CONFIG" yes yes
write_config "$CONFIG_SHA_ONLY" no yes
write_config "$CONFIG_NO_GIT" yes no
write_config "$CONFIG_TRAIN" no no train
export XDG_STATE_HOME=$WORK/state XDG_CONFIG_HOME=$WORK/no-config
unset GANTRY_CONFIG

HAS_FRESH=no
"$GANTRY" status --help 2>/dev/null | grep -q -- '--fresh' && HAS_FRESH=yes
: >"$WORK/console.tsv"
: >"$WORK/train.tsv"

# ---------------------------------------------------------------- measuring

# Requests the fleet registry has logged: a marker request is sent, and counting waits
# until it shows, so every request answered before it is in the log.
MARK=0
logged_requests() { # [registry address] [its access log]: the fleet's by default
    local addr=${1:-$FLEET} log=${2:-$ACCESS_LOG} i
    MARK=$((MARK + 1))
    curl -fs -o /dev/null "http://$addr/v2/bench-mark-$MARK/tags/list" || true
    for ((i = 0; i < 400; i++)); do
        grep -q "bench-mark-$MARK/" "$log" && break
        sleep 0.01
    done
    grep -c '"[A-Z]* /v2/' "$log" || true
}

# CPU a registry process has used so far, in ms: utime + stime (fields 14 and 15 of
# /proc/PID/stat, counted after the command name, which is in parentheses).
CLK_TCK=$(getconf CLK_TCK)
registry_cpu_ms() { # name
    local stat
    stat=$(cat "/proc/${REG_PID[$1]}/stat") || die "registry $1 is not running"
    stat=${stat##*) }
    # shellcheck disable=SC2086 # split into fields on purpose
    set -- $stat
    echo $(((${12} + ${13}) * 1000 / CLK_TCK))
}

record() { # case round wall_us requests rss_kb cpu_ms
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
    say "$(printf '  %-28s round %-2s %9.1f ms %7s requests %7s KiB %7s ms CPU' \
        "$1" "$2" "$(echo "$3 / 1000" | bc -l)" "$4" "$5" "$6")"
}

run_measured() { # case round -- command...
    local case=$1 round=$2 before after t0 t1 rss user sys
    shift 3
    before=$(logged_requests)
    t0=$(now_us)
    if ! /usr/bin/time -f '%M %U %S' -o "$WORK/time.txt" "$@" >"$WORK/logs/$case-$round.out" 2>&1; then
        tail -n 20 "$WORK/logs/$case-$round.out" >&2
        die "$case round $round failed: $*"
    fi
    t1=$(now_us)
    after=$(logged_requests)
    read -r rss user sys <"$WORK/time.txt"
    # One request is our own marker.
    record "$case" "$round" $((t1 - t0)) $((after - before - 1)) "$rss" \
        "$(echo "($user + $sys) * 1000" | bc -l | cut -d. -f1)"
}

if ! only_train; then

# ---------------------------------------------------------------- 1. floor

say "floor: curl for the requests of a status without a cache"
# Every repository's tag list and a HEAD of every tag in it: what a status without a cache
# reads (the tag lists themselves are read here, outside the timed part).
python3 - "$FLEET" "$SERVICES" "$WORK/floor.curl" <<'EOF'
import json, sys, urllib.request, concurrent.futures
fleet, services, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
repos = [f"{env}/svc-{s:04d}" for env in ("dev", "stage", "prod") for s in range(1, services + 1)]
def tags(repo):
    with urllib.request.urlopen(f"http://{fleet}/v2/{repo}/tags/list") as r:
        return repo, json.load(r).get("tags") or []
entries = []
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    for repo, ts in pool.map(tags, repos):
        entries.append(f'url = "http://{fleet}/v2/{repo}/tags/list"\noutput = "/dev/null"\n')
        for t in ts:
            entries.append(f'url = "http://{fleet}/v2/{repo}/manifests/{t}"\nhead\n'
                           'header = "Accept: application/vnd.oci.image.manifest.v1+json"\n'
                           'output = "/dev/null"\n')
open(out, "w").write("next\n".join(entries))
EOF
for ((r = 1; r <= ROUNDS; r++)); do
    run_measured floor "$r" -- curl -s --parallel --parallel-max 16 -K "$WORK/floor.curl"
done

# ---------------------------------------------------------------- 2. status

status_rounds() { # label config [extra args]
    local label=$1 config=$2 r
    shift 2
    for ((r = 1; r <= ROUNDS; r++)); do
        rm -rf "$XDG_STATE_HOME"
        run_measured "$label cold" "$r" -- "$GANTRY" --config "$config" status "$@"
        run_measured "$label warm" "$r" -- "$GANTRY" --config "$config" status "$@"
        if [[ $HAS_FRESH == yes ]]; then
            run_measured "$label --fresh" "$r" -- "$GANTRY" --config "$config" status --fresh "$@"
        fi
        if [[ -n ${GANTRY_BEFORE:-} ]]; then
            run_measured "$label before" "$r" -- "$GANTRY_BEFORE" --config "$config" status "$@"
        fi
    done
}
say "status, mutable tags configured"
status_rounds "status" "$CONFIG"
say "status, SHA tags only"
status_rounds "status sha-only" "$CONFIG_SHA_ONLY"

# ---------------------------------------------------------------- 3. console

say "console in process, $ROUNDS opens (cold: state removed; warm: kept)"
for ((r = 1; r <= ROUNDS; r++)); do
    rm -rf "$XDG_STATE_HOME"
    for warmth in cold warm; do
        before=$(logged_requests)
        line=$("$BENCH" console "$CONFIG" 1) || die "console measurement failed"
        after=$(logged_requests)
        printf 'console %s\t%s\t%s\trequests\t%s\n' "$warmth" "$r" "$line" $((after - before - 1)) >>"$WORK/console.tsv"
        say "  console $warmth round $r: $line, $((after - before - 1)) requests"
    done
done

# ---------------------------------------------------------------- 4. no-op promotion

NOOP_IMAGE="svc-0001:sha-${COMMITS[3]:0:7}"
say "already-present promotion of $NOOP_IMAGE into stage"
"$GANTRY" --config "$CONFIG" promote "$NOOP_IMAGE" --to stage >"$WORK/logs/noop-warmup.out" 2>&1 ||
    { cat "$WORK/logs/noop-warmup.out" >&2; die "the no-op promotion failed"; }
grep -q "already in stage" "$WORK/logs/noop-warmup.out" ||
    { cat "$WORK/logs/noop-warmup.out" >&2; die "the promotion was not a no-op"; }
for ((r = 1; r <= ROUNDS; r++)); do
    run_measured "no-op promotion, git" "$r" -- "$GANTRY" --config "$CONFIG" promote "$NOOP_IMAGE" --to stage
    run_measured "no-op promotion, no git" "$r" -- "$GANTRY" --config "$CONFIG_NO_GIT" promote "$NOOP_IMAGE" --to stage
done
# The rounds above time the command from bash, around /usr/bin/time (a fork and an exec
# more); hyperfine, where installed, times the command alone over many runs.
if command -v hyperfine >/dev/null 2>&1; then
    noop_cmds=("$GANTRY --config $CONFIG promote $NOOP_IMAGE --to stage"
        "$GANTRY --config $CONFIG_NO_GIT promote $NOOP_IMAGE --to stage")
    [[ -n ${GANTRY_BEFORE:-} ]] &&
        noop_cmds+=("$GANTRY_BEFORE --config $CONFIG promote $NOOP_IMAGE --to stage")
    hyperfine -N -w 5 -r 40 --export-json "$WORK/noop-hyperfine.json" "${noop_cmds[@]}" \
        >"$WORK/logs/noop-hyperfine.out" 2>&1 || say "hyperfine failed: see $WORK/logs/noop-hyperfine.out"
fi

fi # ! only_train

# ---------------------------------------------------------------- 5. train

# The registries' side of a train: CPU each used and requests the target answered,
# around the command; printed now and summarised in the report.
TRAIN_BEFORE=()
train_begin() {
    TRAIN_BEFORE=("$(logged_requests "$TARGET" "$TARGET_LOG")" \
        "$(registry_cpu_ms fleet)" "$(registry_cpu_ms target)")
}
train_end() { # case round
    local requests source_ms target_ms
    requests=$(($(logged_requests "$TARGET" "$TARGET_LOG") - TRAIN_BEFORE[0] - 1))
    source_ms=$(($(registry_cpu_ms fleet) - TRAIN_BEFORE[1]))
    target_ms=$(($(registry_cpu_ms target) - TRAIN_BEFORE[2]))
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$requests" "$source_ms" "$target_ms" >>"$WORK/train.tsv"
    say "$(printf '  %-28s round %-2s target: %5s requests; registries CPU: source %5s ms, target %5s ms' \
        "$1" "$2" "$requests" "$source_ms" "$target_ms")"
}
train_gantry() {
    reset_registry target
    train_begin
    run_measured "train gantry" "$1" -- "$GANTRY" --config "$CONFIG_TRAIN" promote "${TRAIN[@]}" --to train-dst
    train_end "train gantry" "$1"
}
train_skopeo() {
    reset_registry target
    drop_skopeo_cache
    train_begin
    local t0 t1 rss user sys
    # The copies run in one shell under GNU time, so the client's CPU (every skopeo the
    # shell waited for) is counted as gantry's is.
    t0=$(now_us)
    # shellcheck disable=SC2016 # expanded by the inner shell
    /usr/bin/time -f '%M %U %S' -o "$WORK/time.txt" bash -c '
        fleet=$1 target=$2 log=$3
        shift 3
        for image in "$@"; do
            skopeo copy --all --preserve-digests --insecure-policy --src-tls-verify=false \
                --dest-tls-verify=false "docker://$fleet/train/$image" \
                "docker://$target/train/$image" >>"$log" 2>&1 || { echo "$image"; exit 1; }
        done' _ "$FLEET" "$TARGET" "$WORK/logs/train-skopeo-$1.out" "${TRAIN[@]}" ||
        die "skopeo copy failed (see $WORK/logs/train-skopeo-$1.out)"
    t1=$(now_us)
    read -r rss user sys <"$WORK/time.txt"
    record "train skopeo" "$1" $((t1 - t0)) - - \
        "$(echo "($user + $sys) * 1000" | bc -l | cut -d. -f1)"
    train_end "train skopeo" "$1"
}
say "train: $TRAIN_IMAGES images into an empty registry"
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        train_gantry "$r"
        train_skopeo "$r"
    else
        train_skopeo "$r"
        train_gantry "$r"
    fi
done
# Every image arrived with its digest.
for image in "${TRAIN[@]}"; do
    src=$(skopeo inspect --raw --tls-verify=false "docker://$FLEET/train/$image" | sha256sum)
    dst=$(skopeo inspect --raw --tls-verify=false "docker://$TARGET/train/$image" | sha256sum)
    [[ $src == "$dst" ]] || die "train: $image differs in the target"
done

# ---------------------------------------------------------------- report

python3 - "$RESULTS" "$WORK/console.tsv" "$ROUNDS" "$SERVICES" "$(nproc)" "$HAS_FRESH" \
    "$WORK/train.tsv" "$TRAIN_IMAGES" "$TRAIN_BYTES" "$BENCH_ONLY" <<'EOF'
import statistics, sys
from collections import defaultdict

(results, console, rounds, services, cores, has_fresh, train, train_images, train_bytes,
 only) = sys.argv[1:]
train_label = f"{int(train_images)} x {int(train_bytes) / 1048576:g} MB"
runs = defaultdict(list)
for line in open(results):
    case, _round, us, requests, rss, cpu = line.rstrip("\n").split("\t")
    num = lambda x: None if x == "-" else float(x)
    runs[case].append((float(us) / 1000, num(requests), num(rss), num(cpu)))

def med(case, i):
    xs = [r[i] for r in runs.get(case, []) if r[i] is not None]
    return statistics.median(xs) if xs else None

def peak(case):
    xs = [r[2] for r in runs.get(case, []) if r[2] is not None]
    return max(xs) / 1024 if xs else None

opens = defaultdict(list)
for line in open(console):
    parts = line.rstrip("\n").split("\t")
    fields = dict(zip(parts[2::2], parts[3::2]))
    opens[parts[0]].append(fields)

def cmed(kind, field):
    xs = [float(o[field]) for o in opens.get(kind, []) if o.get(field) not in (None, "nan")]
    return statistics.median(xs) if xs else None

def cmax(kind, field):
    xs = [float(o[field]) for o in opens.get(kind, []) if o.get(field) not in (None, "nan")]
    return max(xs) if xs else None

f0 = lambda x: "-" if x is None else f"{x:,.0f}"
f1 = lambda x: "-" if x is None else f"{x:,.1f}"
rows = []
def row(label, case, note=""):
    if case not in runs:
        return
    rows.append((label, f1(med(case, 0)) + " ms", f0(med(case, 1)), f1(peak(case)) + " MiB"
                 if peak(case) else "-", note))

row("curl floor (tag lists + HEAD of every tag)", "floor")
for label, case in [("status, cold cache", "status cold"), ("status, warm cache", "status warm"),
                    ("status --fresh", "status --fresh"),
                    ("status, GANTRY_BEFORE", "status before"),
                    ("status, SHA tags only, cold", "status sha-only cold"),
                    ("status, SHA tags only, warm", "status sha-only warm"),
                    ("status, SHA tags only, --fresh", "status sha-only --fresh"),
                    ("status, SHA tags only, GANTRY_BEFORE", "status sha-only before")]:
    if case in runs:
        row(label, case)
row("already-present promotion, real git repository", "no-op promotion, git")
row("already-present promotion, no git", "no-op promotion, no git")
row(f"train: {train_label}, one gantry promote", "train gantry")
row(f"train: {train_images} sequential skopeo copy", "train skopeo")

print()
if only == "train":
    print(f"Train benchmark (`BENCH_ONLY=train scripts/bench-scale.sh`): {train_label} from one "
          f"Distribution 2.8 registry into another, {cores} cores, median of {rounds} rounds "
          f"(peak RSS: the highest).")
else:
    print(f"Scale benchmark (`scripts/bench-scale.sh`): {int(services):,} services x 3 "
          f"environments in one Distribution 2.8 registry (shared layout, 3 SHA tags + the "
          f"mutable tag per repository), {cores} cores, median of {rounds} rounds (peak RSS: "
          f"the highest).")
print()
print("| case | wall | requests | peak RSS |")
print("|---|---:|---:|---:|")
for label, wall, req, rss, _ in rows:
    print(f"| {label} | {wall} | {req} | {rss} |")
for kind in ("console cold", "console warm"):
    if kind in opens:
        print(f"| {kind}: first rows / whole matrix | {f1(cmed(kind, 'first_rows_ms'))} ms / "
              f"{f1(cmed(kind, 'complete_ms'))} ms | {f0(cmed(kind, 'requests'))} | - |")
        print(f"| {kind}: key answered while loading (p50 / p95 / max) | "
              f"{f1(cmed(kind, 'key_p50_ms'))} / {f1(cmed(kind, 'key_p95_ms'))} / "
              f"{f1(cmax(kind, 'key_max_ms'))} ms | - | - |")
trains = defaultdict(list)
for line in open(train):
    case, _round, requests, source_ms, target_ms = line.rstrip("\n").split("\t")
    trains[case].append((float(requests), float(source_ms), float(target_ms)))
def tmed(case, i):
    xs = [t[i] for t in trains.get(case, [])]
    return statistics.median(xs) if xs else None
if trains:
    print()
    print("Train, the registries' side (medians): requests the target answered; CPU used "
          "by the source and the target registry, and by the client (gantry, or every skopeo)")
    print()
    print("| train | target requests | source registry CPU | target registry CPU | client CPU | wall |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, case in [("gantry, one promote", "train gantry"),
                        (f"skopeo, {train_images} sequential copies", "train skopeo")]:
        if case in trains:
            client = med(case, 3)
            print(f"| {label} | {f0(tmed(case, 0))} | {f0(tmed(case, 1))} ms | "
                  f"{f0(tmed(case, 2))} ms | {f0(client) + ' ms' if client is not None else '-'} | "
                  f"{f1(med(case, 0))} ms |")
print()
ratio = lambda a, b: "-" if a is None or not b else f"{a / b:.2f}x"
print("Ratios:")
if only != "train":
    print(f"  warm status / status without the cache (--fresh): requests "
          f"{ratio(med('status warm', 1), med('status --fresh', 1))}, wall "
          f"{ratio(med('status warm', 0), med('status --fresh', 0))}")
    print(f"  warm status, SHA tags only / --fresh: requests "
          f"{ratio(med('status sha-only warm', 1), med('status sha-only --fresh', 1))}, wall "
          f"{ratio(med('status sha-only warm', 0), med('status sha-only --fresh', 0))}")
print(f"  train gantry / skopeo: {ratio(med('train gantry', 0), med('train skopeo', 0))}")
EOF
if [[ -s $WORK/noop-hyperfine.json ]]; then
    python3 - "$WORK/noop-hyperfine.json" "${GANTRY_BEFORE:-}" "$CONFIG_NO_GIT" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
before, no_git = sys.argv[2], sys.argv[3]
print()
print("Already-present promotion, the command alone (hyperfine, 40 runs after 5 warm-ups):")
print()
print("| binary | configuration | mean ± σ | min | user + sys |")
print("|---|---|---:|---:|---:|")
for r in results:
    binary = "GANTRY_BEFORE" if before and r["command"].startswith(before + " ") else "gantry"
    config = "no git" if no_git in r["command"] else "real git repository"
    print(f"| {binary} | {config} | {r['mean'] * 1000:.1f} ± {r['stddev'] * 1000:.1f} ms | "
          f"{r['min'] * 1000:.1f} ms | {(r['user'] + r['system']) * 1000:.1f} ms |")
EOF
fi
exit 0
