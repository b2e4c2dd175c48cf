#!/usr/bin/env bash
# Real RTSP cameras (GStreamer's RTSP server, tests/support/rtsp_camera.py):
# - time from onair's start to a playing screen (headless chromium), H.264
#   camera copied vs H.265 camera encoded by `auto`, with what deciding
#   before the start would cost (encoding chosen up front + an ffprobe);
# - CPU of the H.265 -> H.264 encode per 640x360 and 1280x720 stream, next
#   to copying an H.264 camera of the same size.
# Medians over RUNS runs (default 5). The camera encodes on the same machine,
# so run it on a quiet one.
#   scripts/bench-cameras.sh
#   RUNS=9 scripts/bench-cameras.sh
# Needs chromium, chromium-driver and the GStreamer packages of the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in chromium chromedriver ffprobe; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: see the README's test command" >&2; exit 1; }
done
export ONAIR_BENCH_RUNS=${RUNS:-5}
cargo test --release --test cameras_bench -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep -E '^(start|CPU|  |run )|test result|panicked|error'
