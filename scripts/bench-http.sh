#!/usr/bin/env bash
# HTTP serving speed: onair against nginx serving the same files, in the
# same run, with `wrk -t2 -c50`: a live playlist and a ~400 KB segment.
# nginx is set up as one would for HLS (worker_processes auto, sendfile,
# keep-alive, no access log) and serves its own copy of the files, so that
# its opens do not wake onair's watch of hls_dir.
# Prints onair/nginx for requests per second, p99 latency and the CPU time
# each server spent per request (less noisy than req/s on a busy machine:
# it is what serving screens takes away from FFmpeg).
# Goal: onair >= 1.0 of nginx's req/s, and a p99 no worse than nginx's.
#   DURATION=10 ROUNDS=3 scripts/bench-http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}

need() {
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2 (for $1)..." >&2
  apt-get install -y "$2" >/dev/null || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
}
need wrk wrk
need nginx nginx-light
NGINX=$(command -v nginx)

cargo build --release --bin onair >&2
SERVE="target/release/onair --headless"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

declare -A RESULT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ONAIR_PORT=$(free_port)
NGINX_PORT=$(free_port)

# The files: a playlist as FFmpeg writes it and a 400 KB segment.
mkdir -p "$work/hls/cam" "$work/nginx"
chmod 755 "$work"   # nginx workers may run as another user
head -c 409600 /dev/urandom > "$work/hls/cam/seg-1700000003.ts"
cat > "$work/hls/cam/index.m3u8" <<M3U8
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-MEDIA-SEQUENCE:1700000001
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:1.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:01.000+0000
seg-1700000001.ts
#EXTINF:1.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:02.000+0000
seg-1700000002.ts
#EXTINF:1.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:03.000+0000
seg-1700000003.ts
M3U8
chmod -R a+rX "$work/hls"
cp -a "$work/hls" "$work/nginx-hls"

# onair: one disabled stream, so no FFmpeg competes for the CPU.
cat > "$work/streams.toml" <<TOML
[server]
listen = "127.0.0.1:$ONAIR_PORT"
hls_dir = "hls"

[[stream]]
name = "idle"
input = "lavfi:testsrc2=size=320x180:rate=15"
enabled = false
TOML
$SERVE "$work/streams.toml" 2>"$work/onair.log" &
ONAIR_PID=$!
pids+=($ONAIR_PID)

# nginx: tuned as one would for HLS (sendfile, keep-alive, no access log),
# with the same headers onair sends.
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /hls/ {
      alias $work/nginx-hls/;
      add_header Access-Control-Allow-Origin *;
      location ~ \.m3u8\$ { add_header Cache-Control no-cache; add_header Access-Control-Allow-Origin *; }
      location ~ \.ts\$ { add_header Cache-Control "public, max-age=86400, immutable"; add_header Access-Control-Allow-Origin *; }
    }
  }
}
CONF
"$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>"$work/nginx/stderr.log" &
NGINX_PID=$!
pids+=($NGINX_PID)

wait_up() {
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "nothing answers at $1" >&2
  cat "$work/onair.log" "$work/nginx/error.log" >&2 2>/dev/null || true
  exit 1
}
PLAYLIST=/hls/cam/index.m3u8
SEGMENT=/hls/cam/seg-1700000003.ts
wait_up "http://127.0.0.1:$ONAIR_PORT$PLAYLIST"
wait_up "http://127.0.0.1:$NGINX_PORT$PLAYLIST"
cmp <(curl -s "http://127.0.0.1:$ONAIR_PORT$SEGMENT") <(curl -s "http://127.0.0.1:$NGINX_PORT$SEGMENT") \
  || { echo "onair and nginx serve different bytes" >&2; exit 1; }

# CPU time (clock ticks) used so far by a process and its children's
# processes that are running (nginx's workers).
ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)

# wrk's requests per second, its p99 in milliseconds, and the server's CPU
# microseconds per request.
run_wrk() {
  local out before after
  before=$(ticks "$2")
  out=$(wrk -t2 -c50 -d"${DURATION}s" --latency "$1")
  after=$(ticks "$2")
  local rps p99 count
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  count=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; u=v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
        if (u == "us") v = v / 1000; else if (u == "s") v = v * 1000; print v}' <<<"$out")
  echo "$rps $p99 $(awk -v t=$((after - before)) -v hz="$HZ" -v n="$count" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
}

# The machine may be busy with other work: interleave ROUNDS short runs of
# each server and compare medians, so a burst of load hits both alike.
ROUNDS=${ROUNDS:-3}
declare -A RPS P99 CPU
for name in playlist segment; do
  path=$PLAYLIST; [ "$name" = segment ] && path=$SEGMENT
  wrk -t2 -c50 -d2s "http://127.0.0.1:$ONAIR_PORT$path" >/dev/null   # warm-up
  wrk -t2 -c50 -d2s "http://127.0.0.1:$NGINX_PORT$path" >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    for server in onair nginx; do
      port=$ONAIR_PORT; pid=$ONAIR_PID
      [ "$server" = nginx ] && port=$NGINX_PORT && pid=$NGINX_PID
      read -r rps p99 cpu < <(run_wrk "http://127.0.0.1:$port$path" "$pid")
      RPS[$name-$server]+="$rps "
      P99[$name-$server]+="$p99 "
      CPU[$name-$server]+="$cpu "
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo "wrk -t2 -c50, $ROUNDS x ${DURATION}s per server and file (medians; all runs in brackets)"
printf '%-9s %-6s %10s %9s %9s   %s\n' file server "req/s" "p99 ms" "CPU us/req" "runs (req/s | p99 ms | CPU us/req)"
for name in playlist segment; do
  for server in onair nginx; do
    rps=$(median <<<"${RPS[$name-$server]}")
    p99=$(median <<<"${P99[$name-$server]}")
    cpu=$(median <<<"${CPU[$name-$server]}")
    RESULT[$name-$server-rps]=$rps
    RESULT[$name-$server-p99]=$p99
    RESULT[$name-$server-cpu]=$cpu
    printf '%-9s %-6s %10.0f %9.2f %9.1f   [%s| %s| %s]\n' "$name" "$server" "$rps" "$p99" "$cpu" \
      "${RPS[$name-$server]}" "${P99[$name-$server]}" "${CPU[$name-$server]}"
  done
done
echo
for name in playlist segment; do
  awk -v n="$name" -v or="${RESULT[$name-onair-rps]}" -v nr="${RESULT[$name-nginx-rps]}" \
      -v op="${RESULT[$name-onair-p99]}" -v np="${RESULT[$name-nginx-p99]}" \
      -v oc="${RESULT[$name-onair-cpu]}" -v nc="${RESULT[$name-nginx-cpu]}" \
      'BEGIN { printf "%-9s onair/nginx: req/s %.2f, p99 %.2f, CPU per request %.2f (lower is better for p99 and CPU)\n", n, or/nr, op/np, oc/nc }'
done
