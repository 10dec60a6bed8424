#!/usr/bin/env bash
# Benchmarks one repository per service: 200 service repositories of 5,000 develop
# commits each, served by `git daemon` on loopback (git's own server, as a git host
# serves them: each repository one pack with bitmaps and a commit-graph), and one local
# docker-registry holding each service's `sha-<short>` images in dev, stage and prod.
#
# Times, in the same run (wall clock, fresh state each round unless said):
#   git fetch     the floor: `git init --bare` + `git fetch` of the branches gantry reads
#                 (develop, main, release/*, hotfix/*) into 200 empty repositories, as many
#                 at once as gantry fetches ([git] fetch_concurrency, 8), with xargs -P;
#   gantry fetch  the same 200 cloned into gantry's mirrors;
#   gantry status nothing fetched before: the 200 mirrors cloned (with their newest
#                 1,000 commits, all a status needs) while the registry is read, then each
#                 service's images joined with its repository (commit and commits behind
#                 per environment): "all fetched and joined";
#   registry only the same status with no service repository configured: what reading
#                 the registry (tag lists and digests of 600 service x environment cells)
#                 costs by itself, which the two above include;
#   status, later the same with every mirror there (read as last fetched, no fetch);
#   console       in tmux, nothing fetched: until the first screen is drawn (the frame
#                 and the matrix loading), until its title says all 200 repositories are
#                 fetched (their newest commits), until its first rows show the registry's
#                 tags, until both (every repository then joined into the matrix: a fetch
#                 that lands after the matrix is joined at once, the others when the
#                 matrix arrives), and until every history is complete.
# CPU (user + sys, from /usr/bin/time) is shown for the commands: wall time on a shared
# machine moves with its load.
# Prints medians as a markdown table. A measurement, not a test: exits 0 either way.
#
# Environment:
#   ROUNDS       rounds per case (default 3)
#   SERVICES     service repositories (default 200)
#   COMMITS      develop commits per repository (default 5000)
#   GANTRY       a gantry binary (default: cargo build --release and use that)
#   FLEET        a directory to keep the generated repositories in and reuse on the next
#                run with the same SERVICES and COMMITS (default: made in the temp dir)
#   BENCH_KEEP=1 keep the temp dir

set -euo pipefail
export LC_ALL=C

ROUNDS=${ROUNDS:-3}
SERVICES=${SERVICES:-200}
COMMITS=${COMMITS:-5000}
CONCURRENCY=8
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

say() { printf '%s\n' "bench-polyrepo: $*" >&2; }
die() { printf '%s\n' "bench-polyrepo: error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "\`$1\` not found on PATH: $2"; }

need docker-registry "apt-get install docker-registry"
need git "apt-get install git"
need tmux "apt-get install tmux"
need python3 "python3 writes the repositories and pushes the images"
need curl "curl checks that the registry is up"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found: apt-get install time"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash >= 5 (EPOCHREALTIME)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-polyrepo.XXXXXX")
REG_PID=
DAEMON_PID=
SESSION=bench-polyrepo-$$
cleanup() {
    local rc=$?
    set +e
    tmux kill-session -t "$SESSION" 2>/dev/null
    for pid in $REG_PID $DAEMON_PID; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ ${BENCH_KEEP:-} == 1 ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=scripts/bench_common.sh
source "$SCRIPT_DIR/bench_common.sh"
gantry_binary "$REPO_ROOT"

# A sandboxed git: the developer's own configuration never applies (libgit2 reads $HOME).
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME=$WORK
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

# ---------------------------------------------------------------- repositories

REMOTES=${FLEET:-$WORK/remotes}/$SERVICES-$COMMITS
if [[ -f $REMOTES/complete ]]; then
    say "reusing the $SERVICES repositories in $REMOTES"
else
    say "generating $SERVICES repositories of $COMMITS develop commits (git fast-import)..."
    rm -rf "$REMOTES"
    started=$(now_ms)
    python3 "$SCRIPT_DIR/polyrepo_fleet.py" repos "$REMOTES" "$SERVICES" "$COMMITS"
    touch "$REMOTES/complete"
    say "repositories made in $(( $(now_ms) - started )) ms"
fi
say "svc-001: $(git -C "$REMOTES/svc-001.git" rev-list --count develop) commits on develop"

DAEMON_PORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$REMOTES" --listen=127.0.0.1 \
    --port="$DAEMON_PORT" --max-connections=64 "$REMOTES" >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for ((i = 0; i < 200; i++)); do
    git ls-remote "git://127.0.0.1:$DAEMON_PORT/svc-001.git" >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log" >&2; die "git daemon exited"; }
    sleep 0.05
done
BASE_URL=git://127.0.0.1:$DAEMON_PORT

# ---------------------------------------------------------------- registry

start_registry "$WORK/registry" "$WORK/registry.log"
REG_PID=$REGISTRY_PID
say "tagging each service's images in dev, stage and prod..."
python3 "$SCRIPT_DIR/polyrepo_fleet.py" images "$REMOTES" "$REGISTRY"

CONFIG=$WORK/gantry.toml
{
    printf '[git]\nfetch_concurrency = %d\n' "$CONCURRENCY"
    printf '\n[ledger]\nenabled = false\n'
    previous=
    for env in dev stage prod; do
        mutable=$env
        [[ $env == dev ]] && mutable=latest
        printf '\n[[environment]]\nname = "%s"\nregistry = "%s"\npath = "%s"\nplain_http = true\nmutable_tag = "%s"\n' \
            "$env" "$REGISTRY" "$env" "$mutable"
        [[ -n $previous ]] && printf 'from = "%s"\n' "$previous"
        previous=$env
    done
    for ((i = 1; i <= SERVICES; i++)); do
        printf '\n[[service]]\nname = "svc-%03d"\ngit = "%s/svc-%03d.git"\n' "$i" "$BASE_URL" "$i"
    done
} >"$CONFIG"
# The same fleet without its repositories ([git] path names none): the registry's share.
grep -v '^git = ' "$CONFIG" | sed 's/^fetch_concurrency = .*/path = "no-repository-here"/' >"$WORK/registry-only.toml"

# ---------------------------------------------------------------- timing

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A WALL CPU

record() { # label ms
    echo "$2" >>"$WORK/wall-$1"
}
summarise() { # label
    WALL[$1]=$(median <"$WORK/wall-$1")
    CPU[$1]=-
    [[ -s $WORK/cpu-$1 ]] && CPU[$1]="$(median <"$WORK/cpu-$1") ms"
    say "$1: median ${WALL[$1]} ms ($(tr '\n' ' ' <"$WORK/wall-$1")), CPU ${CPU[$1]}"
}

git_floor() {
    local dir=$WORK/floor
    rm -rf "$dir"
    mkdir -p "$dir"
    local started=$(now_ms)
    seq -f 'svc-%03g' 1 "$SERVICES" | /usr/bin/time -f '%U %S' -o "$WORK/time.txt" xargs -P "$CONCURRENCY" -I{} sh -c '
        git init -q --bare "$0/{}.git" &&
        git -C "$0/{}.git" fetch -q "$1/{}.git" \
            "+refs/heads/develop:refs/heads/develop" "+refs/heads/main:refs/heads/main" \
            "+refs/heads/release/*:refs/heads/release/*" "+refs/heads/hotfix/*:refs/heads/hotfix/*"
    ' "$dir" "$BASE_URL"
    record git-fetch $(( $(now_ms) - started ))
    cpu git-fetch
}

cpu() { # label: adds the CPU /usr/bin/time wrote to time.txt
    local user sys
    read -r user sys <"$WORK/time.txt"
    python3 -c "print(round(($user + $sys) * 1000))" >>"$WORK/cpu-$1"
}

gantry_run() { # label config args...
    local label=$1 config=$2 started
    shift 2
    started=$(now_ms)
    XDG_STATE_HOME=$STATE /usr/bin/time -f '%U %S' -o "$WORK/time.txt" \
        "$GANTRY" --config "$config" "$@" >"$WORK/out-$label.txt" 2>"$WORK/err-$label.txt" ||
        die "$label: gantry $* failed: $(tail -5 "$WORK/err-$label.txt")"
    record "$label" $(( $(now_ms) - started ))
    cpu "$label"
}

pane() { tmux capture-pane -p -t "$SESSION" 2>/dev/null || true; }

# The console in tmux, nothing fetched: first frame, first rows, everything fetched.
console_run() {
    local started frame= rows= fetched= both= complete= text deadline
    rm -rf "$STATE"
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    started=$(now_ms)
    tmux new-session -d -s "$SESSION" -x 200 -y 50 \
        "XDG_STATE_HOME=$STATE HOME=$WORK GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 $GANTRY --config $CONFIG"
    deadline=$(( started + 120000 ))
    while [[ -z $complete ]]; do
        (( $(now_ms) < deadline )) || die "console: not all fetched after 120 s: $(pane | head -3)"
        text=$(pane)
        local at
        at=$(now_ms)
        [[ -z $frame && $text == *"what runs where"* ]] && frame=$(( at - started ))
        [[ -z $rows && $text == *"svc-001"*"sha-"* ]] && rows=$(( at - started ))
        [[ -z $fetched && $text == *"repositories: $SERVICES of $SERVICES fetched"* && $text != *"fetching"* ]] &&
            fetched=$(( at - started ))
        [[ -z $both && -n $rows && -n $fetched ]] && both=$(( at - started ))
        [[ -n $both && $text != *"completing"* ]] && complete=$(( at - started ))
        sleep 0.01
    done
    record console-frame "$frame"
    record console-rows "$rows"
    record console-fetched "$fetched"
    record console-joined "$both"
    record console-complete "$complete"
    pane >"$WORK/console-screen.txt"
    tmux send-keys -t "$SESSION" q
    sleep 0.5
    tmux kill-session -t "$SESSION" 2>/dev/null || true
}

STATE=$WORK/state
say "warming the page cache (one untimed git fetch of all ${SERVICES})..."
git_floor
rm -f "$WORK/wall-git-fetch"
for ((round = 1; round <= ROUNDS; round++)); do
    say "round $round of $ROUNDS"
    git_floor
    rm -rf "$STATE"
    gantry_run gantry-fetch "$CONFIG" fetch
    rm -rf "$STATE"
    gantry_run registry-only "$WORK/registry-only.toml" status
    gantry_run status-cold "$CONFIG" status
    gantry_run status-warm "$CONFIG" status
    console_run
done

for label in git-fetch gantry-fetch registry-only status-cold status-warm console-frame console-fetched console-rows console-joined console-complete; do
    summarise "$label"
done

# Sanity: the cold status placed every service's images on its commits.
python3 - "$WORK/out-status-cold.txt" "$SERVICES" <<'EOF' || die "the status answer is not what it should be"
import sys
lines = [l for l in open(sys.argv[1]) if l.startswith("svc-")]
assert len(lines) == int(sys.argv[2]), len(lines)
missing = [l for l in lines if not (l.count('"') >= 6 and "behind" in l)]
assert not missing, f"{len(missing)} of {len(lines)} rows not joined: {missing[:3]}"
joined = len(lines)
print(f"bench-polyrepo: status: {joined} services joined with their repositories", file=sys.stderr)
EOF
grep -q "cloned" "$WORK/out-gantry-fetch.txt" || die "gantry fetch cloned nothing"

verdict() { (( $1 < $2 )) && echo pass || echo over; }
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | wall (median of $ROUNDS) | CPU | target |"
echo "|---|---:|---:|---|"
row() { # label description target-ms
    local target=-
    [[ -n ${3:-} ]] && target="< $(( $3 / 1000 )) s: $(verdict "${WALL[$1]}" "$3")"
    echo "| $2 | ${WALL[$1]} ms | ${CPU[$1]} | $target |"
}
row git-fetch "\`git fetch\` of the $SERVICES repositories, $CONCURRENCY at a time (the floor)"
row gantry-fetch "\`gantry fetch\`: the $SERVICES cloned into gantry's mirrors, whole"
row registry-only "\`gantry status\` without service repositories (the registry's share)"
row status-cold "\`gantry status\`, nothing fetched: all $SERVICES cloned and joined with their images" 10000
row status-warm "\`gantry status\`, mirrors there (read as last fetched)"
row console-frame "console, nothing fetched: first screen drawn" 1000
row console-fetched "console: all $SERVICES fetched in the background"
row console-rows "console: the matrix's rows with the registry's tags"
row console-joined "console: all fetched and joined into the matrix" 10000
row console-complete "console: every history complete (in the background)"
