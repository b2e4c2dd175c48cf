#!/usr/bin/env bash
# Soak: onair --headless with 16 streams (12 copying a looped file, 4 encoding
# a small synthetic picture) under a random fault every 10 s, sampling the
# engine's RSS, open fds, threads and zombie children every second.
#
# Faults, one per 10 s, picked at random: kill -9 of an FFmpeg; SIGSTOP of an
# FFmpeg (the watchdog must kill it after stall_timeout = 4 s); a profile
# switch of one stream by `sed -i`; a broken save, then its fix; SIGHUP.
#
# At the end: every enabled stream must be running again (within 90 s), RSS
# may have grown by at most 2 MB since the first minute, the fds must be
# back where they were with every stream running, no zombie may outlive a
# sample, and after SIGTERM no FFmpeg of onair may be left.
#
# Usage: scripts/soak.sh MINUTES        (SEED=n for a repeatable fault order;
#        STREAMS=16; KEEP=1 keeps the work directory and its samples.csv)
# Needs: cargo, ffmpeg, python3 (to find a free port), procps (pgrep).
set -euo pipefail

MINUTES=${1:?usage: scripts/soak.sh MINUTES}
STREAMS=${STREAMS:-16}
ENCODED=$((STREAMS / 4))
RANDOM=${SEED:-$$}
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}

for tool in cargo ffmpeg python3 pgrep; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is required" >&2; exit 1; }
done

echo "building onair (release)..." >&2
cargo build --quiet --release --manifest-path "$repo/Cargo.toml" --bin onair
bin="$target/release/onair"

work=$(mktemp -d "${TMPDIR:-/tmp}/onair-soak.XXXXXX")
export ONAIR_RUNTIME_DIR="$work/run"
config="$work/streams.toml"
onair_pid=""
cleanup() {
  if [ -n "$onair_pid" ] && kill -0 "$onair_pid" 2>/dev/null; then
    kill -CONT "$onair_pid" 2>/dev/null || true
    kill -TERM "$onair_pid" 2>/dev/null || true
    wait "$onair_pid" 2>/dev/null || true
  fi
  pkill -KILL -f -- "$work/" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "soak: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "making the source file..." >&2
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x180:rate=15 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 \
  -c:v libx264 -preset veryfast -g 15 -pix_fmt yuv420p -c:a aac -b:a 64k "$work/source.ts"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
names=()
{
  printf '[server]\nlisten = "127.0.0.1:%s"\nhls_dir = "hls"\nstall_timeout = 4\n' "$port"
  for i in $(seq -w 1 "$STREAMS"); do
    # `profile` right after `name`: the line the profile faults edit.
    if [ "$((10#$i))" -le "$ENCODED" ]; then
      printf '\n[[stream]]\nname = "enc%s"\nprofile = "stable"\ninput = "lavfi:testsrc2=size=160x90:rate=10"\naudio = "none"\n' "$i"
    else
      printf '\n[[stream]]\nname = "cam%s"\nprofile = "stable"\ninput = "%s"\nloop = true\nvideo = "copy"\naudio = "copy"\n' \
        "$i" "$work/source.ts"
    fi
  done
} > "$config"
mapfile -t names < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$config")

"$bin" --headless "$config" 2>"$work/onair.err" &
onair_pid=$!

ffmpeg_children() { pgrep -P "$onair_pid" -x ffmpeg || true; }
all_running() { "$bin" status "$config" >/dev/null 2>&1; }
wait_all_running() { # seconds; prints how long it took, fails on timeout
  local start=$SECONDS
  until all_running; do
    if [ $((SECONDS - start)) -ge "$1" ]; then return 1; fi
    sleep 1
  done
  echo $((SECONDS - start))
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$onair_pid/status"; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$onair_pid/status"; }
fds() { find "/proc/$onair_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
zombies() { ps -o stat= --ppid "$onair_pid" 2>/dev/null | grep -c '^Z' || true; }

echo "waiting for $STREAMS streams..." >&2
wait_all_running 120 >/dev/null || { echo "soak: the streams never all ran" >&2; tail -20 "$work/onair.err" >&2; exit 1; }
start_fds=$(fds); start_rss=$(rss_kb); start_threads=$(threads)
echo "all running: RSS $((start_rss / 1024)) MB, $start_fds fds, $start_threads threads; soaking for $MINUTES min" >&2

fault() {
  local victim name
  case $((RANDOM % 5)) in
    0)
      victim=$(ffmpeg_children | shuf -n 1 --random-source=<(yes "$RANDOM"))
      [ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null && echo "kill -9 ffmpeg $victim" ;;
    1)
      victim=$(ffmpeg_children | shuf -n 1 --random-source=<(yes "$RANDOM"))
      [ -n "$victim" ] && kill -STOP "$victim" 2>/dev/null && echo "SIGSTOP ffmpeg $victim" ;;
    2)
      name=${names[$((RANDOM % ${#names[@]}))]}
      sed -i -e "/^name = \"$name\"\$/{n;s/\"stable\"/\"swap\"/;s/\"low-latency\"/\"stable\"/;s/\"swap\"/\"low-latency\"/}" "$config"
      echo "sed -i: $name $(grep -A1 "^name = \"$name\"\$" "$config" | tail -1)" ;;
    3)
      cp "$config" "$work/good.toml"
      printf '\n[[stream]\nname = \n' >> "$config"
      sleep 2
      cp "$work/good.toml" "$config"
      echo "broken save, fixed 2 s later" ;;
    4)
      kill -HUP "$onair_pid" && echo "SIGHUP" ;;
  esac
}

samples="$work/samples.csv"
echo "second,rss_kb,fds,threads,zombies,ffmpeg" > "$samples"
total=$((MINUTES * 60))
faults=0; rss_1min=""; fds_1min=""; zombie_samples=0; lasting_zombies=0; prev_zombies=0
for second in $(seq 1 "$total"); do
  sleep 1
  kill -0 "$onair_pid" 2>/dev/null || { echo "soak: onair died" >&2; tail -20 "$work/onair.err" >&2; exit 1; }
  z=$(zombies)
  echo "$second,$(rss_kb),$(fds),$(threads),$z,$(ffmpeg_children | wc -l)" >> "$samples"
  if [ "$z" -gt 0 ]; then
    zombie_samples=$((zombie_samples + 1))
    [ "$prev_zombies" -gt 0 ] && lasting_zombies=$((lasting_zombies + 1))
  fi
  prev_zombies=$z
  if [ "$second" -eq 60 ]; then rss_1min=$(rss_kb); fds_1min=$(fds); fi
  if [ $((second % 10)) -eq 0 ] && [ "$second" -lt "$total" ]; then
    echo "  ${second}s: $(fault)" >&2
    faults=$((faults + 1))
  fi
done
rss_1min=${rss_1min:-$start_rss}

echo "settling..." >&2
if settled=$(wait_all_running 90); then running_ok=1; else running_ok=0; settled=90; fi
end_rss=$(rss_kb); end_fds=$(fds); end_threads=$(threads); end_zombies=$(zombies)
max_rss=$(awk -F, 'NR > 1 && $2 > m { m = $2 } END { print m + 0 }' "$samples")
running=$(ffmpeg_children | wc -l)

kill -TERM "$onair_pid"
stop_start=$SECONDS
wait "$onair_pid" 2>/dev/null || true
onair_pid=""
stop_took=$((SECONDS - stop_start))
orphans=$(pgrep -f -- "$work/" | wc -l || true)

growth=$((end_rss - rss_1min))
verdict() { if [ "$1" = 1 ]; then echo "ok"; else echo "FAILED"; fi; }
ok_running=$running_ok
ok_rss=$([ "$growth" -le 2048 ] && echo 1 || echo 0)
ok_fds=$([ "$end_fds" -le "$start_fds" ] && echo 1 || echo 0)
ok_zombies=$([ "$end_zombies" -eq 0 ] && [ "$lasting_zombies" -eq 0 ] && echo 1 || echo 0)
ok_orphans=$([ "$orphans" -eq 0 ] && echo 1 || echo 0)

cat <<EOF
soak: $MINUTES min, $STREAMS streams ($ENCODED encoded, $((STREAMS - ENCODED)) copy), $faults faults (one per 10 s)
  every enabled stream running at the end: $running ffmpeg, all running ${settled} s after the last fault  [$(verdict "$ok_running")]
  RSS: $((start_rss / 1024)) MB at start, $((rss_1min / 1024)) MB at 1 min, $((end_rss / 1024)) MB at the end (max $((max_rss / 1024)) MB); growth after the first minute $growth kB (limit 2048)  [$(verdict "$ok_rss")]
  fds with every stream running: $start_fds at start, $end_fds at the end (${fds_1min:-n/a} at 1 min)  [$(verdict "$ok_fds")]
  threads: $start_threads at start, $end_threads at the end
  zombies: $end_zombies at the end; seen in $zombie_samples of $total samples, $lasting_zombies lasting past a second  [$(verdict "$ok_zombies")]
  after SIGTERM (onair exited in ${stop_took} s): $orphans orphaned process(es)  [$(verdict "$ok_orphans")]
EOF
[ "${KEEP:-0}" = 1 ] && echo "  samples: $samples"
[ "$ok_running$ok_rss$ok_fds$ok_zombies$ok_orphans" = 11111 ]
