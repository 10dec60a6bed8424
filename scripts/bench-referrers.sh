#!/usr/bin/env bash
# Benchmarks a promotion carrying 200 MB of OCI referrers against the image alone on two
# local Distribution registries (fallback tags): see scripts/bench_referrers.py.
#
# Environment:
#   ROUNDS               rounds per case (default 5)
#   GANTRY               path to a gantry binary (default: `cargo build --release` and use that)
#   BENCH_LAYER_MIB      MiB per image layer (default 25: a 200 MB two-platform image)
#   BENCH_REFERRERS      referrer artifacts (default 8)
#   BENCH_REFERRER_MIB   MiB per referrer (default 25: 200 MB of referrers)
#   BENCH_KEEP=1         keep the temp dir
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
for tool in docker-registry skopeo python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench-referrers: $tool not found" >&2; exit 1; }
done
python3 -c 'import oras.provider' 2>/dev/null || { echo "bench-referrers: pip install oras" >&2; exit 1; }
if [[ -z ${GANTRY:-} ]]; then
    (cd "$REPO_ROOT" && cargo build --release --bin gantry) >&2
    GANTRY=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/gantry
fi
GANTRY=$(cd "$(dirname "$GANTRY")" && pwd)/$(basename "$GANTRY") exec python3 "$SCRIPT_DIR/bench_referrers.py"
