#!/usr/bin/env bash
# Fallback, measured on onair itself: time from a source's death to the
# slate on the outputs and from its return to live (medians over OUTAGES
# outages), then STREAMS copy-mode streams with fallback on and off (every
# stream's speed, onair's own CPU and RSS, the relay's throughput).
#
#   scripts/bench-fallback.sh [OUTAGES [STREAMS [SECONDS]]]   # default: 10 64 20
#
# Needs ffmpeg, nginx and libnginx-mod-rtmp (Debian: apt-get install ffmpeg
# nginx-light libnginx-mod-rtmp). Everything runs on 127.0.0.1 ports chosen
# at random; nothing is left running. Prints figures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in ffmpeg ffprobe; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install ffmpeg" >&2; exit 1; }
done
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "nginx is missing: apt-get install nginx-light libnginx-mod-rtmp" >&2; exit 1
fi
if [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
    echo "the nginx RTMP module is missing: apt-get install libnginx-mod-rtmp" >&2; exit 1
fi
# 64 streams hold some 400 pipes and sockets open.
ulimit -n 8192 2>/dev/null || true

cargo bench --quiet --bench fallback --no-run
# The bench binary's name carries a hash: ask cargo for it.
bin=$(cargo bench --quiet --bench fallback --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\/deps\/fallback-[^"]*\)".*/\1/p' | tail -1)
outages=${1:-10} streams=${2:-64} seconds=${3:-20}
export PATH="$PATH:/usr/sbin"
# Switch times, then each cost in a process of its own (one onair each).
"$bin" "$outages" 0
if [ "$streams" -gt 0 ]; then
    "$bin" 0 "$streams" "$seconds" off
    "$bin" 0 "$streams" "$seconds" on | tail -1
fi
