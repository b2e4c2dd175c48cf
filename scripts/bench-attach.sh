#!/usr/bin/env bash
# One engine, two consoles, 64 streams: what each process costs, and how
# fast a console attaches to an engine that already runs.
#
#  - the engine (`onair --headless`) with STREAMS copy-mode HLS streams and
#    two consoles attached in tmux (120x40): its CPU (% of one core) and RSS;
#  - each console: its CPU and RSS;
#  - attaching: the time from starting `onair CONFIG` (on a pseudo terminal)
#    to its first drawn dashboard, next to the time `onair --version` takes
#    to start and end on the same pseudo terminal, measured in the same run;
#  - a key in one console seen in the other: the time from `r` pressed in one
#    console to the restarted stream drawn as `starting` in another.
#
# Usage: scripts/bench-attach.sh   (STREAMS=64 MEASURE_SECONDS=30 ROUNDS=15)
# Needs: cargo, ffmpeg, tmux, python3.
# Goal (issue 9): engine <= 1.5 % of a core and <= 40 MB; each console
# <= 1.5 % and <= 30 MB; attach <= 150 ms.
set -euo pipefail

STREAMS=${STREAMS:-64}
MEASURE_SECONDS=${MEASURE_SECONDS:-30}
ROUNDS=${ROUNDS:-15}
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}

for tool in cargo ffmpeg tmux python3; do
  command -v "$tool" >/dev/null || { echo "bench-attach: $tool is required" >&2; exit 1; }
done

echo "building onair (release)..." >&2
cargo build --quiet --release --manifest-path "$repo/Cargo.toml" --bin onair
bin="$target/release/onair"

work=$(mktemp -d "${TMPDIR:-/tmp}/onair-bench-attach.XXXXXX")
sock="$work/tmux.sock"
export ONAIR_RUNTIME_DIR="$work/run"
engine_pid=""
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  if [ -n "$engine_pid" ]; then kill -TERM "$engine_pid" 2>/dev/null || true; wait "$engine_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A 10 s H.264 + AAC file that every stream loops, copied without encoding.
echo "making the source file..." >&2
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=640x360:rate=25 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k "$work/source.ts"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
config="$work/streams.toml"
{
  printf '[server]\nlisten = "127.0.0.1:%s"\nhls_dir = "hls"\n' "$port"
  for i in $(seq -w 1 "$STREAMS"); do
    printf '\n[[stream]]\nname = "cam%s"\ninput = "%s"\nloop = true\nvideo = "copy"\naudio = "copy"\nprofile = "stable"\n' \
      "$i" "$work/source.ts"
  done
} > "$config"

running_ffmpeg() { pgrep -f -- "$work/hls/" | wc -l; }
wait_for() { # seconds, description, command...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "bench-attach: timed out waiting for $what" >&2; exit 1; fi
    sleep 0.2
  done
}
all_running() { [ "$(running_ffmpeg)" -ge "$STREAMS" ]; } # with fallback a stream also has an ingest
all_playlists() { [ "$(find "$work/hls" -name index.m3u8 2>/dev/null | wc -l)" -eq "$STREAMS" ]; }

echo "starting the engine with $STREAMS streams..." >&2
"$bin" --headless "$config" 2>"$work/engine.err" &
engine_pid=$!
wait_for 90 "$STREAMS ffmpeg processes" all_running
wait_for 90 "$STREAMS playlists" all_playlists

echo "attaching two consoles in tmux 120x40..." >&2
for name in producer technician; do
  tmux -S "$sock" new-session -d -s "$name" -x 120 -y 40 \
    "exec env ONAIR_RUNTIME_DIR='$ONAIR_RUNTIME_DIR' '$bin' '$config' 2>'$work/$name.err'"
done
drawn() { tmux -S "$sock" capture-pane -p -t "$1" | grep -q "2 consoles"; }
wait_for 30 "the producer's dashboard" drawn producer
wait_for 30 "the technician's dashboard" drawn technician
producer_pid=$(tmux -S "$sock" display-message -p -t producer '#{pane_pid}')
technician_pid=$(tmux -S "$sock" display-message -p -t technician '#{pane_pid}')

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

echo "measuring for ${MEASURE_SECONDS} s..." >&2
pids=("$engine_pid" "$producer_pid" "$technician_pid")
declare -a t_start rss_max rss_sum
for i in 0 1 2; do t_start[$i]=$(ticks "${pids[$i]}"); rss_max[$i]=0; rss_sum[$i]=0; done
t0=$(date +%s.%N)
for _ in $(seq 1 "$MEASURE_SECONDS"); do
  sleep 1
  for i in 0 1 2; do
    r=$(rss_kb "${pids[$i]}")
    [ "$r" -gt "${rss_max[$i]}" ] && rss_max[$i]=$r
    rss_sum[$i]=$((rss_sum[$i] + r))
  done
done
t1=$(date +%s.%N)
declare -a t_end
for i in 0 1 2; do t_end[$i]=$(ticks "${pids[$i]}"); done

echo "timing attach and key propagation..." >&2
first="cam$(seq -w 1 "$STREAMS" | head -1)"
timings=$(python3 - "$bin" "$config" "$ROUNDS" "$first" <<'PY'
import fcntl, os, pty, select, struct, sys, termios, time

binary, config, rounds, first = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()

def spawn(args):
    pid, fd = pty.fork()
    if pid == 0:
        # A terminal of 120x40, as in the tmux sessions.
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.environ["TERM"] = "xterm"
        os.execv(binary, [binary] + args)
    return pid, fd

def read_until(fd, needles, deadline, seen=b""):
    """Reads the pty until every needle was seen; returns the time or None."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.01)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return None, seen
            if not chunk:
                return None, seen
            seen += chunk
            if all(n in seen for n in needles):
                return time.monotonic(), seen
    return None, seen

def reap(pid, fd):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        try:
            if select.select([fd], [], [], 0.02)[0]:
                os.read(fd, 65536)
        except OSError:
            pass
    try:
        os.close(fd)
    except OSError:
        pass

version, attach = [], []
for _ in range(rounds):
    start = time.monotonic()
    pid, fd = spawn(["--version"])
    read_until(fd, [b"onair"], start + 5)
    os.waitpid(pid, 0)
    version.append(time.monotonic() - start)
    os.close(fd)

    start = time.monotonic()
    pid, fd = spawn([config])
    at, seen = read_until(fd, [b"STREAM", first, b"running"], start + 10)
    if at is None:
        sys.exit(f"a console did not draw its dashboard within 10 s; it wrote: {seen[-400:]!r}")
    attach.append(at - start)
    os.write(fd, b"q")
    time.sleep(0.05)
    os.write(fd, b"d")
    reap(pid, fd)

# A key in console A (r on the selected first stream) seen in console B.
a_pid, a_fd = spawn([config])
b_pid, b_fd = spawn([config])
now = time.monotonic()
read_until(a_fd, [first, b"running"], now + 10)
read_until(b_fd, [first, b"running"], now + 10)
seen_in_b = []
for _ in range(5):
    time.sleep(3)  # the stream back to running, output drained below
    while select.select([b_fd], [], [], 0)[0]:
        os.read(b_fd, 65536)
    while select.select([a_fd], [], [], 0)[0]:
        os.read(a_fd, 65536)
    start = time.monotonic()
    os.write(a_fd, b"r")
    at, _ = read_until(b_fd, [b"starting"], start + 5)
    if at is not None:
        seen_in_b.append(at - start)
for fd in (a_fd, b_fd):
    os.write(fd, b"q")
time.sleep(0.05)
for fd in (a_fd, b_fd):
    os.write(fd, b"d")
reap(a_pid, a_fd)
reap(b_pid, b_fd)

def ms(values, q):
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(q * len(values)))]

print(f"version {ms(version, 0.5):.1f} {ms(version, 0.9):.1f}")
print(f"attach {ms(attach, 0.5):.1f} {ms(attach, 0.9):.1f}")
if seen_in_b:
    print(f"key {ms(seen_in_b, 0.5):.1f} {ms(seen_in_b, 0.9):.1f} {len(seen_in_b)}")
else:
    print("key - - 0")
PY
)
still=$(running_ffmpeg)

awk -v t0="$t0" -v t1="$t1" -v hz="$hz" -v n="$MEASURE_SECONDS" -v streams="$STREAMS" -v still="$still" \
    -v e0="${t_start[0]}" -v e1="${t_end[0]}" -v em="${rss_max[0]}" -v es="${rss_sum[0]}" \
    -v p0="${t_start[1]}" -v p1="${t_end[1]}" -v pm="${rss_max[1]}" -v ps="${rss_sum[1]}" \
    -v c0="${t_start[2]}" -v c1="${t_end[2]}" -v cm="${rss_max[2]}" -v cs="${rss_sum[2]}" \
    -v timings="$timings" 'BEGIN {
  el = t1 - t0
  split(timings, lines, "\n")
  for (i in lines) { split(lines[i], f, " "); t[f[1] "50"] = f[2]; t[f[1] "90"] = f[3]; t[f[1] "n"] = f[4] }
  printf "engine + 2 consoles, %d copy-mode HLS streams, %.1f s\n", streams, el
  line("engine (onair --headless)", e0, e1, es, em, 1.5, 40)
  line("console 1 (tmux 120x40)", p0, p1, ps, pm, 1.5, 30)
  line("console 2 (tmux 120x40)", c0, c1, cs, cm, 1.5, 30)
  printf "  onair --version, start to end       median %6.1f ms   p90 %6.1f ms (reference)\n", t["version50"], t["version90"]
  printf "  onair CONFIG, start to dashboard    median %6.1f ms   p90 %6.1f ms   %.1fx the reference; goal <= 150 ms: %s\n", \
    t["attach50"], t["attach90"], t["attach50"] / t["version50"], (t["attach50"] <= 150 ? "met" : "NOT met")
  if (t["keyn"] > 0)
    printf "  key in one console, drawn in other  median %6.1f ms   p90 %6.1f ms   (%d presses); goal <= 500 ms: %s\n", \
      t["key50"], t["key90"], t["keyn"], (t["key90"] <= 500 ? "met" : "NOT met")
  printf "  ffmpeg processes of the engine running at the end: %d of %d\n", still, streams
}
function line(label, a, b, sum, max, cpu_goal, mb_goal,   cpu, avg) {
  cpu = (b - a) / hz / el * 100; avg = sum / n / 1024
  printf "  %-34s CPU %5.2f %% of a core   RSS %6.1f MB (max %5.1f MB)   goal <= %.1f %% and <= %d MB: %s\n", \
    label, cpu, avg, max / 1024, cpu_goal, mb_goal, (cpu <= cpu_goal && max / 1024 <= mb_goal ? "met" : "NOT met")
}'
