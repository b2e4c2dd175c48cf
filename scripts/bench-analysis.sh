#!/usr/bin/env bash
# What content analysis (audio levels, black/freeze detection, thumbnails)
# costs: STREAMS copy-mode streams (default 64) of one 1280x720 25 fps H.264 +
# AAC clip, looped, run by `onair --headless` twice in the same run: first
# with `analysis = false`, then with analysis on. For each phase, after a
# warm-up, it measures over SECS seconds:
#   - total host CPU (all processes, from /proc/stat), in cores;
#   - the CPU of onair and its FFmpeg processes alone, in cores (the same
#     comparison, unaffected by whatever else the machine runs);
#   - onair's own CPU (its process only), percent of one core;
#   - every stream's speed (FFmpeg's own figure, from /api/streams).
# and prints the ratios with analysis / without.
#   scripts/bench-analysis.sh
#   STREAMS=16 SECS=30 scripts/bench-analysis.sh
# The machine should be otherwise quiet: other load counts in the host figures.
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-64}
SECS=${SECS:-60}
WARMUP=${WARMUP:-20}
command -v ffmpeg >/dev/null || { echo "ffmpeg is missing: apt-get install ffmpeg" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing: apt-get install curl" >&2; exit 1; }

cargo build --release --locked --quiet
onair_bin="$PWD/target/release/onair"
work=$(mktemp -d)
onair_pid=
cleanup() {
  if [ -n "$onair_pid" ]; then kill -TERM "$onair_pid" 2>/dev/null || true; wait "$onair_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "source: 10 s of 1280x720 25 fps H.264 (key frame every 2 s) + AAC stereo, looped"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000,aformat=channel_layouts=stereo" \
  -t 10 -c:v libx264 -preset veryfast -g 50 -b:v 2500k -pix_fmt yuv420p \
  -c:a aac -b:a 128k -f mpegts "$work/source.ts"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Busy and total jiffies of the whole host.
host_jiffies() { awk '/^cpu /{busy=$2+$3+$4+$7+$8+$9; total=busy+$5+$6; print busy, total}' /proc/stat; }
# utime+stime of one process, jiffies.
proc_jiffies() { awk '{print $14+$15}' "/proc/$1/stat"; }
# utime+stime of onair and its children (the FFmpeg processes), jiffies.
tree_jiffies() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1"); do
    total=$((total + $(proc_jiffies "$pid" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

phase() {
  local analysis=$1
  local config="$work/streams-$analysis.toml"
  {
    echo "[server]"
    echo "listen = \"127.0.0.1:$port\""
    echo "hls_dir = \"$work/hls-$analysis\""
    echo "analysis = $analysis"
    for i in $(seq 1 "$STREAMS"); do
      printf '[[stream]]\nname = "cam%02d"\ninput = "%s"\nloop = true\nvideo = "copy"\naudio = "copy"\n' \
        "$i" "$work/source.ts"
    done
  } > "$config"
  "$onair_bin" --headless "$config" 2>"$work/onair-$analysis.log" &
  onair_pid=$!
  sleep "$WARMUP"
  local hz cores hb0 ht0 hb1 ht1 p0 p1 t0 t1
  hz=$(getconf CLK_TCK)
  cores=$(nproc)
  read -r hb0 ht0 < <(host_jiffies)
  p0=$(proc_jiffies "$onair_pid")
  t0=$(tree_jiffies "$onair_pid")
  sleep "$SECS"
  read -r hb1 ht1 < <(host_jiffies)
  p1=$(proc_jiffies "$onair_pid")
  t1=$(tree_jiffies "$onair_pid")
  local api="$work/api-$analysis.json"
  curl -s -o "$api" "http://127.0.0.1:$port/api/streams"
  kill -TERM "$onair_pid"
  wait "$onair_pid" || true
  onair_pid=
  python3 - "$analysis" "$cores" "$hz" "$SECS" "$hb0" "$ht0" "$hb1" "$ht1" "$p0" "$p1" "$t0" "$t1" "$api" <<'EOF'
import json, sys
analysis, cores, hz, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
hb0, ht0, hb1, ht1, p0, p1, t0, t1 = map(float, sys.argv[5:13])
with open(sys.argv[13]) as f:
    snapshot = json.load(f)
host_cores = (hb1 - hb0) / (ht1 - ht0) * cores
onair_pct = (p1 - p0) / hz / secs * 100
tree_cores = (t1 - t0) / hz / secs
streams = snapshot["streams"]
running = [s for s in streams if s.get("state") == "running"]
speeds = [s.get("speed") or 0.0 for s in running]
alarms = sum(len(s.get("alarms") or []) for s in streams)
print(f"analysis={analysis}: {len(running)}/{len(streams)} running, speed min {min(speeds or [0]):.3f} "
      f"median {sorted(speeds)[len(speeds)//2] if speeds else 0:.3f}, host CPU {host_cores:.2f} cores, "
      f"onair+FFmpeg {tree_cores:.2f} cores, onair {onair_pct:.2f} % of a core, alarms raised {alarms}")
print(f"RESULT {analysis} {host_cores:.4f} {onair_pct:.4f} {min(speeds or [0]):.4f} {tree_cores:.4f}")
EOF
}

echo "$STREAMS copy-mode streams, warm-up ${WARMUP} s, measured over ${SECS} s per phase"
# Each phase runs in this shell, so that the trap stops its onair whatever happens.
phase false > "$work/off.txt"
grep -v '^RESULT' "$work/off.txt"
phase true > "$work/on.txt"
grep -v '^RESULT' "$work/on.txt"
off_line=$(grep '^RESULT' "$work/off.txt")
on_line=$(grep '^RESULT' "$work/on.txt")
python3 - $off_line $on_line "$(nproc)" <<'EOF'
import sys
_, _, off, _, _, off_tree, _, _, on, onair, speed, on_tree, cores = sys.argv[1:14]
off, on, onair, speed, off_tree, on_tree, cores = map(float, (off, on, onair, speed, off_tree, on_tree, cores))
if max(off, on) >= 0.95 * cores:
    print(f"WARNING: the host was saturated ({max(off, on):.2f} of {cores:.0f} cores busy): the host ratio means "
          "nothing; run it on a quiet machine (the onair+FFmpeg ratio still compares the two phases)")
print(f"host CPU with analysis / without: {on / off:.2f}x (goal <= 1.5x)")
print(f"onair+FFmpeg CPU with analysis / without: {on_tree / off_tree:.2f}x")
print(f"onair's own CPU with analysis: {onair:.2f} % of a core (goal <= 2 %)")
print(f"slowest stream with analysis: speed {speed:.3f} (goal >= 0.99)")
EOF
