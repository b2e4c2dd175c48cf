#!/usr/bin/env bash
# Screen latency per profile: headless chromium plays a lavfi stream served
# by onair and prints hls.js's `hls.latency` after SECONDS (default 30),
# with the stalls, slates and fatal errors seen meanwhile.
# Goals: low-latency <= 1.0 s; stable <= 8 s with no stall in a 5-minute soak:
#   scripts/bench-latency.sh                 # both profiles, 30 s each
#   SECONDS_PER_PROFILE=300 PROFILES=stable scripts/bench-latency.sh   # the soak
#   LL_HLS_TIME=0.5 scripts/bench-latency.sh # try shorter low-latency segments
# Needs chromium and chromium-driver (apt-get install chromium chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in chromium chromedriver; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install chromium chromium-driver" >&2; exit 1; }
done
export ONAIR_LATENCY_SECONDS=${SECONDS_PER_PROFILE:-30}
export ONAIR_LATENCY_PROFILES=${PROFILES:-}
if [ -n "${LL_HLS_TIME:-}" ]; then export ONAIR_LL_HLS_TIME=$LL_HLS_TIME; fi
cargo test --release --test browser -- --ignored --nocapture --exact latency_per_profile 2>&1 \
  | grep -E '^latency |test result|panicked|error'
