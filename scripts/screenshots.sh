#!/usr/bin/env bash
# Renders a screenshot of each main console screen from the real program, running on
# `gantry demo`'s sandbox, into assets/screen-*.png (shown in the README).
# Needs tmux, Pillow (pip install pillow) and fonts-dejavu-core.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "screenshots: tmux is needed (apt-get install tmux)" >&2; exit 1; }
python3 -c 'import PIL' 2>/dev/null || { echo "screenshots: Pillow is needed (pip install pillow)" >&2; exit 1; }

if [ -z "${GANTRY:-}" ]; then
  cargo build --release --quiet
  GANTRY=$PWD/target/release/gantry
fi
work=$(mktemp -d)
socket=gantry-shots-$$
demo_pid=
cleanup() {
  tmux -L "$socket" kill-server 2>/dev/null || true
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$GANTRY" demo --dir "$work/demo" --no-tui >"$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 1 600); do
  grep -q "Press Ctrl-C" "$work/demo.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "Press Ctrl-C" "$work/demo.log" || { cat "$work/demo.log" >&2; exit 1; }

cols=120 rows=30
tmux -L "$socket" -f /dev/null new-session -d -x $cols -y $rows -s shots \
  "env XDG_STATE_HOME=$work/state TERM=xterm-256color GANTRY_CONFIG=$work/demo/gantry.toml $GANTRY; sleep 30"

wait_for() {
  for _ in $(seq 1 300); do
    tmux -L "$socket" capture-pane -p -t shots | grep -q "$1" && return 0
    sleep 0.1
  done
  echo "screenshots: '$1' never showed" >&2
  tmux -L "$socket" capture-pane -p -t shots >&2
  exit 1
}
shot() {
  sleep 0.3
  tmux -L "$socket" capture-pane -e -p -t shots >"$work/$1.ansi"
  python3 scripts/ansi_to_png.py "$work/$1.ansi" "assets/screen-$1.png" --cols $cols --rows $rows
  echo "assets/screen-$1.png"
}

mkdir -p assets
wait_for "sha-"
shot environments
tmux -L "$socket" send-keys -t shots 1; wait_for "develop history"; wait_for "Kofi"
shot commits
tmux -L "$socket" send-keys -t shots 2; wait_for "DEVELOP +/-"
shot branches
tmux -L "$socket" send-keys -t shots 3; wait_for "PLATFORMS"
shot images
tmux -L "$socket" send-keys -t shots p; wait_for "y/enter promote"
shot promote-plan
tmux -L "$socket" send-keys -t shots y; wait_for "promoted "
shot promotions
tmux -L "$socket" send-keys -t shots 6; wait_for "to delete"
tmux -L "$socket" send-keys -t shots ']'; wait_for "ledger-api"; wait_for "2 to delete"
shot retention
tmux -L "$socket" send-keys -t shots 7; wait_for "chain intact"
shot audit
tmux -L "$socket" send-keys -t shots '?'; wait_for "keys on"
shot help
tmux -L "$socket" send-keys -t shots q
