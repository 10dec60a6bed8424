#!/usr/bin/env bash
# The test command the README documents: formatting, lints, then every test
# (unit and integration, against real docker-registry processes).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
