#!/usr/bin/env bash
# What onair costs: the engine's CPU (% of one core) and resident memory
# with 16 copy-mode HLS streams, and the console's with the dashboard open in
# a real terminal (tmux), printed next to one bare FFmpeg of the same kind
# (the exact command onair runs for one stream) measured in the same run.
# In console mode, `onair` starts the engine in the background, as an
# operator's first `onair` does.
#
# Usage: scripts/bench-console.sh            (STREAMS=16 MEASURE_SECONDS=30)
#        MODE=headless scripts/bench-console.sh   (the engine alone: onair --headless)
# scripts/bench-attach.sh measures 64 streams with two consoles attached.
# Needs: cargo, ffmpeg, tmux, python3 (to find a free port).
# Goal (issue 4): onair <= 1 % of a core and <= 40 MB with 16 streams.
set -euo pipefail

STREAMS=${STREAMS:-16}
MODE=${MODE:-console}
MEASURE_SECONDS=${MEASURE_SECONDS:-30}
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}

for tool in cargo ffmpeg tmux python3; do
  command -v "$tool" >/dev/null || { echo "bench-console: $tool is required" >&2; exit 1; }
done

echo "building onair (release)..." >&2
cargo build --quiet --release --manifest-path "$repo/Cargo.toml" --bin onair
bin="$target/release/onair"

work=$(mktemp -d "${TMPDIR:-/tmp}/onair-bench-console.XXXXXX")
sock="$work/tmux.sock"
export ONAIR_RUNTIME_DIR="$work/run"
bare_pid=""
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  # The engine a console started outlives the console: stop it.
  for lock in "$ONAIR_RUNTIME_DIR"/*.lock; do
    [ -e "$lock" ] || continue
    pid=$(head -1 "$lock")
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 1
  if [ -n "$bare_pid" ]; then kill "$bare_pid" 2>/dev/null || true; wait "$bare_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A 10 s H.264 + AAC file that every stream loops, copied without encoding.
echo "making the source file..." >&2
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=640x360:rate=25 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$work/source.ts"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
  printf '[server]\nlisten = "127.0.0.1:%s"\nhls_dir = "hls"\n' "$port"
  for i in $(seq -w 1 "$STREAMS"); do
    printf '\n[[stream]]\nname = "cam%s"\ninput = "%s"\nloop = true\nvideo = "copy"\naudio = "copy"\nprofile = "stable"\n' \
      "$i" "$work/source.ts"
  done
} > "$work/streams.toml"

running_ffmpeg() { pgrep -f -- "$work/hls/" | wc -l; }
wait_for() { # seconds, description, command...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "bench-console: timed out waiting for $what" >&2; exit 1; fi
    sleep 0.2
  done
}
all_running() { [ "$(running_ffmpeg)" -eq "$STREAMS" ]; }
all_playlists() { [ "$(find "$work/hls" -name index.m3u8 2>/dev/null | wc -l)" -eq "$STREAMS" ]; }

if [ "$MODE" = headless ]; then
  echo "starting onair --headless with $STREAMS streams..." >&2
  "$bin" --headless "$work/streams.toml" 2>"$work/onair.err" &
  onair_pid=$!
  label="onair --headless"
else
  echo "starting onair with $STREAMS streams in tmux 120x40..." >&2
  tmux -S "$sock" new-session -d -s bench -x 120 -y 40 \
    "exec env ONAIR_RUNTIME_DIR='$ONAIR_RUNTIME_DIR' '$bin' '$work/streams.toml' 2>'$work/onair.err'"
  console_pid=$(tmux -S "$sock" display-message -p -t bench '#{pane_pid}')
  label="onair engine, with a console open in tmux 120x40"
fi
wait_for 60 "$STREAMS ffmpeg processes" all_running
wait_for 60 "$STREAMS playlists" all_playlists
if [ "$MODE" != headless ]; then
  onair_pid=$(head -1 "$ONAIR_RUNTIME_DIR"/*.lock)
fi

# The bare reference: the exact command onair runs for cam01, writing elsewhere.
first=$(pgrep -f -- "$work/hls/cam$(seq -w 1 "$STREAMS" | head -1)/index.m3u8" | head -1)
mapfile -d '' argv < "/proc/$first/cmdline"
mkdir -p "$work/bare"
bare_argv=()
for arg in "${argv[@]}"; do bare_argv+=("${arg//$work\/hls\/cam01/$work/bare}"); done
"${bare_argv[@]}" >/dev/null 2>"$work/bare.err" &
bare_pid=$!
wait_for 30 "the bare ffmpeg's playlist" test -s "$work/bare/index.m3u8"

ticks() { # utime + stime of a process, in clock ticks
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

hz=$(getconf CLK_TCK)
echo "measuring for ${MEASURE_SECONDS} s..." >&2
console_ref=${console_pid:-$bare_pid}
t0=$(date +%s.%N); o0=$(ticks "$onair_pid"); b0=$(ticks "$bare_pid"); c0=$(ticks "$console_ref")
onair_rss_max=0; bare_rss_max=0; onair_rss_sum=0; bare_rss_sum=0; samples=0; console_rss_max=0
for _ in $(seq 1 "$MEASURE_SECONDS"); do
  sleep 1
  c=$(rss_kb "$console_ref"); [ "$c" -gt "$console_rss_max" ] && console_rss_max=$c
  o=$(rss_kb "$onair_pid"); b=$(rss_kb "$bare_pid")
  [ "$o" -gt "$onair_rss_max" ] && onair_rss_max=$o
  [ "$b" -gt "$bare_rss_max" ] && bare_rss_max=$b
  onair_rss_sum=$((onair_rss_sum + o)); bare_rss_sum=$((bare_rss_sum + b)); samples=$((samples + 1))
done
t1=$(date +%s.%N); o1=$(ticks "$onair_pid"); b1=$(ticks "$bare_pid"); c1=$(ticks "$console_ref")
still=$(running_ffmpeg)

awk -v t0="$t0" -v t1="$t1" -v o0="$o0" -v o1="$o1" -v b0="$b0" -v b1="$b1" -v hz="$hz" \
    -v om="$onair_rss_max" -v bm="$bare_rss_max" -v os="$onair_rss_sum" -v bs="$bare_rss_sum" \
    -v n="$samples" -v streams="$STREAMS" -v still="$still" -v label="$label" \
    -v c0="$c0" -v c1="$c1" -v cm="$console_rss_max" -v console="${console_pid:-}" 'BEGIN {
  el = t1 - t0
  oc = (o1 - o0) / hz / el * 100; bc = (b1 - b0) / hz / el * 100
  oa = os / n / 1024; ba = bs / n / 1024
  printf "%s, %d copy-mode HLS streams, %.1f s\n", label, streams, el
  printf "  onair engine               CPU %5.2f %% of a core   RSS %6.1f MB (max %.1f MB)\n", oc, oa, om / 1024
  if (console != "") printf "  onair console              CPU %5.2f %% of a core   RSS max %.1f MB\n", (c1 - c0) / hz / el * 100, cm / 1024
  printf "  bare ffmpeg, one stream    CPU %5.2f %% of a core   RSS %6.1f MB (max %.1f MB)\n", bc, ba, bm / 1024
  if (bc > 0) printf "  onair / one bare ffmpeg    CPU %.2fx   RSS %.2fx\n", oc / bc, oa / ba
  printf "  goal: onair <= 1 %% of a core and <= 40 MB -> CPU %s, RSS %s\n", (oc <= 1 ? "met" : "NOT met"), (om / 1024 <= 40 ? "met" : "NOT met")
  printf "  ffmpeg processes of onair still running at the end: %d of %d\n", still, streams
}'

if [ "$MODE" = headless ]; then
  kill -TERM "$onair_pid"
  wait "$onair_pid" || true
  echo "  after SIGTERM: $(running_ffmpeg) ffmpeg of onair left"
  exit 0
fi
# Leave the way an operator does at the end of the event: q, then s.
tmux -S "$sock" send-keys -t bench q
quit_asked() { tmux -S "$sock" capture-pane -p -t bench | grep -q 'Leave onair?'; }
wait_for 10 "the leaving question" quit_asked
tmux -S "$sock" send-keys -t bench s
onair_gone() { # ended, or a zombie waiting for its parent
  [ ! -e "/proc/$onair_pid/stat" ] || [ "$(sed 's/^.*) //' "/proc/$onair_pid/stat" | cut -d' ' -f1)" = Z ]
}
wait_for 30 "the engine to stop" onair_gone
echo "  after q s: $(running_ffmpeg) ffmpeg of onair left" 
