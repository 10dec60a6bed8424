#!/usr/bin/env bash
# Benchmarks gantry's copy engine against skopeo on two local registries.
#
# Sets up two fresh `docker-registry serve` processes ("dev" and "stage") on free loopback
# ports, seeds dev with a two-platform OCI image (index of linux/amd64 + linux/arm64, each
# platform 4 layers of incompressible random bytes, ~200 MB in all) written by
# scripts/bench_layout.py and pushed by skopeo, then times, over ROUNDS rounds:
#
#   cold copy       dev -> stage into a wiped stage registry (stopped, storage removed and
#                   restarted outside the timed part); gantry promote vs skopeo copy --all
#                   --preserve-digests, skopeo's blob-info cache removed before each run;
#                   gantry and skopeo alternate which goes first.
#   mount           dev -> a fresh repository of the *same* registry (shared layout, path
#                   prefix `m<round>`), so blobs are mounted, not copied; vs skopeo copy into
#                   another fresh repository of that registry. skopeo only mounts blobs whose
#                   location its blob-info cache knows, so for this case the cache is warmed
#                   once (untimed) and kept.
#   already present gantry promote of an image the target already holds with the same tags
#                   (the no-op fast path): wall time of the whole command. skopeo copy of the
#                   same image is shown for reference only.
#
# After every gantry (and skopeo) run the target's manifest digest is checked against the
# source's (`skopeo inspect --raw | sha256sum`); a mismatch aborts the run.
#
# Prints medians, gantry/skopeo ratios and the targets (cold <= 0.75x skopeo, mount <= 1.0x
# skopeo, already present < 25 ms), then the same figures as a markdown table. It is a
# measurement, not a test: it exits 0 whether or not the targets are met.
#
# Environment:
#   ROUNDS           rounds per case (default 5)
#   GANTRY           path to a gantry binary (default: `cargo build --release` and use that)
#   BENCH_LAYERS     layers per platform (default 4)
#   BENCH_LAYER_MIB  MiB of random payload per layer (default 25)
#   BENCH_KEEP=1     keep the temp dir (registries' storage, configs, logs) for inspection
#
# Note: removes skopeo's blob-info cache (/var/lib/containers/cache/blob-info-cache-v1.boltdb
# for root, ~/.local/share/containers/cache/blob-info-cache-v1.boltdb otherwise). It is only
# a cache; skopeo recreates it.

set -euo pipefail
export LC_ALL=C

ROUNDS=${ROUNDS:-5}
LAYERS=${BENCH_LAYERS:-4}
LAYER_MIB=${BENCH_LAYER_MIB:-25}
SERVICE=bench-svc
TAG=sha-2b2e927
STAGE_MUTABLE=stage

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

BENCH_NAME=bench-copy
# shellcheck source=scripts/bench_lib.sh
source "$SCRIPT_DIR/bench_lib.sh"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash >= 5 (EPOCHREALTIME)"

need docker-registry "install the CNCF Distribution registry (Debian/Ubuntu: apt-get install docker-registry)"
need skopeo "install skopeo (Debian/Ubuntu: apt-get install skopeo)"
need python3 "python3 generates the test image layout"
need curl "curl checks that the registries are up"
need sha256sum "sha256sum (coreutils) checks manifest digests"

# ---------------------------------------------------------------- temp dir and cleanup

bench_workdir

# ---------------------------------------------------------------- gantry binary

bench_gantry_binary
say "skopeo: $(skopeo --version)"

# ---------------------------------------------------------------- registries

mapfile -t PORTS < <(free_ports 2)
REG_PORT[dev]=${PORTS[0]}
REG_PORT[stage]=${PORTS[1]}
REG_DIR[dev]=$WORK/dev-storage
REG_DIR[stage]=$WORK/stage-storage
DEV=127.0.0.1:${REG_PORT[dev]}
STAGE=127.0.0.1:${REG_PORT[stage]}
start_registry dev
start_registry stage
say "registries: dev=$DEV stage=$STAGE"

# ---------------------------------------------------------------- image

say "writing a $(python3 -c "print(2 * $LAYERS * $LAYER_MIB)") MiB two-platform OCI layout..."
SRC_DIGEST=$(python3 "$SCRIPT_DIR/bench_layout.py" "$WORK/layout" --tag "$TAG" \
    --platforms amd64,arm64 --layers "$LAYERS" --layer-mib "$LAYER_MIB")
[[ $SRC_DIGEST =~ ^sha256:[0-9a-f]{64}$ ]] || die "bench_layout.py printed '$SRC_DIGEST', not a digest"
IMAGE_BYTES=$(du -sb "$WORK/layout/blobs" | cut -f1)

SKOPEO_COPY=(skopeo copy --all --preserve-digests --insecure-policy --src-tls-verify=false --dest-tls-verify=false)

say "seeding dev with $SERVICE:$TAG ($SRC_DIGEST)..."
skopeo copy --all --preserve-digests --insecure-policy --dest-tls-verify=false \
    "oci:$WORK/layout:$TAG" "docker://$DEV/$SERVICE:$TAG" >"$WORK/logs/seed.log" 2>&1 ||
    { cat "$WORK/logs/seed.log" >&2; die "seeding dev with skopeo failed"; }

digest_of() { # image reference without transport -> sha256:<hex> of its raw manifest
    local out=$WORK/logs/inspect.raw
    if ! skopeo inspect --raw --tls-verify=false "docker://$1" >"$out" 2>"$out.err"; then
        cat "$out.err" >&2
        echo "unreadable"
        return 0
    fi
    echo "sha256:$(sha256sum <"$out" | cut -d' ' -f1)"
}

verify() { # who ref
    local got
    got=$(digest_of "$2")
    [[ $got == "$SRC_DIGEST" ]] ||
        die "after $1: $2 has digest $got, source has $SRC_DIGEST"
}

verify seed "$DEV/$SERVICE:$TAG"

# ---------------------------------------------------------------- gantry config

# Every gantry run sees a config of the same size (dev + one target environment): gantry
# sets up a client per configured environment at start, so a config listing every
# round's mount environment would slow each run down, the no-op most of all.
write_config() { # file [mount-round]
    {
        cat <<EOF
[[environment]]
name = "dev"
registry = "$DEV"
plain_http = true
EOF
        if [[ -z ${2:-} ]]; then
            cat <<EOF

[[environment]]
name = "stage"
registry = "$STAGE"
from = "dev"
plain_http = true
mutable_tag = "$STAGE_MUTABLE"
EOF
        else
            cat <<EOF

# shared layout: same registry as dev, a fresh path prefix each round
[[environment]]
name = "m$2"
registry = "$DEV"
path = "m$2"
from = "dev"
plain_http = true
EOF
        fi
        cat <<EOF

[[service]]
name = "$SERVICE"
EOF
    } >"$1"
}

CONFIG=$WORK/gantry.toml
write_config "$CONFIG"

# ---------------------------------------------------------------- timing

T0=0
LAST_MS=0
record() { # case tool round: records the time since the last `T0=...`
    local t1=${EPOCHREALTIME/[.,]/}
    local us=$((t1 - T0))
    LAST_MS=$(printf '%d.%03d' $((us / 1000)) $((us % 1000)))
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$us" >>"$RESULTS"
    say "  $(printf '%-16s %-7s round %-2s %10s ms' "$1" "$2" "$3" "$LAST_MS")"
}

run_gantry() { # case round env [config]
    local log=$WORK/logs/gantry-$1-$2.log config=${4:-$CONFIG}
    cd "$WORK"
    T0=${EPOCHREALTIME/[.,]/}
    if ! "$GANTRY" --config "$config" promote "$SERVICE:$TAG" --to "$3" >"$log" 2>&1; then
        cat "$log" >&2
        die "gantry promote $SERVICE:$TAG --to $3 failed ($1, round $2)"
    fi
    [[ $1 == warmup ]] || record "$1" gantry "$2"
}

run_skopeo() { # case round src dst
    local log=$WORK/logs/skopeo-$1-$2.log
    cd "$WORK"
    T0=${EPOCHREALTIME/[.,]/}
    if ! "${SKOPEO_COPY[@]}" "docker://$3" "docker://$4" >"$log" 2>&1; then
        cat "$log" >&2
        die "skopeo copy $3 -> $4 failed ($1, round $2)"
    fi
    record "$1" skopeo "$2"
}

cold_gantry() {
    reset_registry stage
    run_gantry cold "$1" stage
    verify "gantry cold round $1" "$STAGE/$SERVICE:$TAG"
}

cold_skopeo() {
    reset_registry stage
    drop_skopeo_cache
    run_skopeo cold "$1" "$DEV/$SERVICE:$TAG" "$STAGE/$SERVICE:$TAG"
    verify "skopeo cold round $1" "$STAGE/$SERVICE:$TAG"
}

mount_gantry() {
    write_config "$WORK/gantry-m$1.toml" "$1"
    sync
    run_gantry mount "$1" "m$1" "$WORK/gantry-m$1.toml"
    verify "gantry mount round $1" "$DEV/m$1/$SERVICE:$TAG"
}

mount_skopeo() {
    sync
    run_skopeo mount "$1" "$DEV/$SERVICE:$TAG" "$DEV/k$1/$SERVICE:$TAG"
    verify "skopeo mount round $1" "$DEV/k$1/$SERVICE:$TAG"
}

# ---------------------------------------------------------------- 1. cold copy

say "cold copy: dev -> empty stage, $ROUNDS rounds"
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        cold_gantry "$r"
        cold_skopeo "$r"
    else
        cold_skopeo "$r"
        cold_gantry "$r"
    fi
done
GANTRY_COLD_SUMMARY=$(tail -n 5 "$WORK/logs/gantry-cold-1.log")

# ---------------------------------------------------------------- 2. mount

say "mount: dev/$SERVICE -> dev/<fresh>/$SERVICE on the same registry, $ROUNDS rounds"
# skopeo mounts only from locations recorded in its blob-info cache: warm it (untimed).
drop_skopeo_cache
"${SKOPEO_COPY[@]}" "docker://$DEV/$SERVICE:$TAG" "docker://$DEV/warm/$SERVICE:$TAG" \
    >"$WORK/logs/skopeo-mount-warmup.log" 2>&1 ||
    { cat "$WORK/logs/skopeo-mount-warmup.log" >&2; die "skopeo warm-up copy failed"; }
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        mount_gantry "$r"
        mount_skopeo "$r"
    else
        mount_skopeo "$r"
        mount_gantry "$r"
    fi
done
GANTRY_MOUNT_SUMMARY=$(tail -n 5 "$WORK/logs/gantry-mount-1.log")

# ---------------------------------------------------------------- 3. already present

say "already present: promote again into stage, $ROUNDS rounds"
# One untimed promotion leaves stage holding the image and both of gantry's tags.
run_gantry warmup 0 stage
verify "gantry already-present warm-up" "$STAGE/$SERVICE:$TAG"
for ((r = 1; r <= ROUNDS; r++)); do
    run_gantry present "$r" stage
    verify "gantry already-present round $r" "$STAGE/$SERVICE:$TAG"
    run_skopeo present "$r" "$DEV/$SERVICE:$TAG" "$STAGE/$SERVICE:$TAG"
    verify "skopeo already-present round $r" "$STAGE/$SERVICE:$TAG"
done
MUTABLE_DIGEST=$(digest_of "$STAGE/$SERVICE:$STAGE_MUTABLE")
[[ $MUTABLE_DIGEST == "$SRC_DIGEST" ]] ||
    say "warning: stage's mutable tag '$STAGE_MUTABLE' has digest $MUTABLE_DIGEST, not $SRC_DIGEST"
GANTRY_PRESENT_SUMMARY=$(tail -n 5 "$WORK/logs/gantry-present-1.log")

# ---------------------------------------------------------------- report

say "gantry output, cold copy round 1:"
printf '%s\n' "$GANTRY_COLD_SUMMARY" | sed 's/^/    /' >&2
say "gantry output, mount round 1:"
printf '%s\n' "$GANTRY_MOUNT_SUMMARY" | sed 's/^/    /' >&2
say "gantry output, already present round 1:"
printf '%s\n' "$GANTRY_PRESENT_SUMMARY" | sed 's/^/    /' >&2

python3 - "$RESULTS" "$ROUNDS" "$IMAGE_BYTES" "$(nproc 2>/dev/null || echo '?')" \
    "$(skopeo --version | awk '{print $3}')" <<'EOF'
import statistics, sys
from collections import defaultdict

path, rounds, image_bytes, cores, skopeo_version = sys.argv[1:]
times = defaultdict(list)
with open(path) as f:
    for line in f:
        case, tool, _round, us = line.rstrip("\n").split("\t")
        times[case, tool].append(int(us) / 1000.0)

def med(case, tool):
    xs = times.get((case, tool))
    return statistics.median(xs) if xs else None

def span(case, tool):
    xs = times.get((case, tool))
    return f"{min(xs):.0f}-{max(xs):.0f}" if xs else "-"

rows = []
for case, label, kind, limit, target in [
    ("cold", "cold copy", "ratio", 0.75, "<= 0.75x skopeo"),
    ("mount", "mount (same registry)", "ratio", 1.0, "<= 1.00x skopeo"),
    ("present", "already present", "abs", 25.0, "< 25 ms"),
]:
    g, s = med(case, "gantry"), med(case, "skopeo")
    ratio = g / s if g is not None and s else None
    if kind == "ratio":
        ok = ratio is not None and ratio <= limit
    else:
        ok = g is not None and g < limit
    rows.append(dict(label=label, g=g, s=s, ratio=ratio, target=target, ok=ok,
                     gspan=span(case, "gantry"), sspan=span(case, "skopeo"),
                     ref_only=(kind == "abs")))

fmt = lambda x: "-" if x is None else f"{x:.1f}"
fratio = lambda x: "-" if x is None else f"{x:.2f}x"
mib = int(image_bytes) / (1 << 20)

print()
print(f"gantry vs skopeo {skopeo_version}: {mib:.0f} MiB two-platform image, "
      f"medians of {rounds} rounds, {cores} cores")
print()
head = ("case", "gantry ms", "(min-max)", "skopeo ms", "(min-max)", "gantry/skopeo", "target", "result")
widths = (22, 10, 12, 10, 12, 13, 16, 6)
line = lambda cells: "  ".join(str(c).ljust(w) if i in (0, 2, 4, 6, 7) else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(cells, widths)))
print(line(head))
print(line(["-" * w for w in widths]))
for r in rows:
    print(line((r["label"], fmt(r["g"]), r["gspan"], fmt(r["s"]) + ("*" if r["ref_only"] else ""),
                r["sspan"], fratio(r["ratio"]), r["target"], "PASS" if r["ok"] else "FAIL")))
print()
print("* skopeo copy of an image already present: for reference, not part of the target.")
print()
print(f"Copy benchmark (`scripts/bench-copy.sh`): {mib:.0f} MiB two-platform OCI image "
      f"(linux/amd64 + linux/arm64), two local Distribution 2.8 registries, skopeo {skopeo_version}, "
      f"{cores} cores, median of {rounds} rounds.")
print()
print("| case | gantry | skopeo | gantry/skopeo | target | result |")
print("|---|---:|---:|---:|---|---|")
for r in rows:
    s = "-" if r["s"] is None else f"{r['s']:.0f} ms" + (" (ref.)" if r["ref_only"] else "")
    g = "-" if r["g"] is None else f"{r['g']:.0f} ms"
    print(f"| {r['label']} | {g} | {s} | {fratio(r['ratio'])} | {r['target']} | "
          f"{'pass' if r['ok'] else 'fail'} |")
EOF

exit 0
