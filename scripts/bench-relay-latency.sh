#!/usr/bin/env bash
# Added latency of a copy-mode relay through onair, against the encoder
# publishing straight to the platform and against a bare FFmpeg running
# onair's exact command line (the reference measured in the same run).
#
#   scripts/bench-relay-latency.sh [SECONDS [WxH RATE]]   # default: 30 320x180 15
#
# Needs ffmpeg, nginx and libnginx-mod-rtmp (Debian: apt-get install ffmpeg
# nginx-light libnginx-mod-rtmp). Everything runs on 127.0.0.1 ports chosen
# at random; nothing is left running. Prints figures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in ffmpeg ffprobe stdbuf; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install ffmpeg coreutils" >&2; exit 1; }
done
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "nginx is missing: apt-get install nginx-light libnginx-mod-rtmp" >&2; exit 1
fi
if [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
    echo "the nginx RTMP module is missing: apt-get install libnginx-mod-rtmp" >&2; exit 1
fi

cargo bench --quiet --bench relay_latency --no-run
# The bench binary's name carries a hash: ask cargo for it.
bin=$(cargo bench --quiet --bench relay_latency --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*relay_latency[^"]*\)".*/\1/p' | tail -1)
PATH="$PATH:/usr/sbin" exec "$bin" "$@"
