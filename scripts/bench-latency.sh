#!/usr/bin/env bash
# Glass-to-glass latency of the screens, per profile: three headless
# chromium screens (one with its clock three seconds ahead) play a lavfi
# stream served by onair; every second each one reports onair's clock minus
# the PROGRAM-DATE-TIME of the frame on screen. After 20 s of settling it
# prints, per profile: the median and p95 over SECONDS_PER_PROFILE (default
# 300), the stalls, the slates, and the spread between the three screens.
# Goals: low-latency <= 1.0 s median, stable <= 8 s, no stall, spread <= 50 ms.
#   scripts/bench-latency.sh                         # both profiles, 5 minutes each
#   SECONDS_PER_PROFILE=60 PROFILES=low-latency scripts/bench-latency.sh
#   VIA=proxy scripts/bench-latency.sh                # through assets/nginx-screens.conf
#   LL_SCREEN_DELAY=0.7 LL_HLS_TIME=0.5 scripts/bench-latency.sh   # try other settings
#   TRACE=1 scripts/bench-latency.sh                  # print each reading with a spread over 50 ms
# Needs chromium, chromium-driver (and nginx for VIA=proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in chromium chromedriver; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install chromium chromium-driver" >&2; exit 1; }
done
export ONAIR_LATENCY_SECONDS=${SECONDS_PER_PROFILE:-300}
export ONAIR_LATENCY_PROFILES=${PROFILES:-}
export ONAIR_LATENCY_VIA=${VIA:-}
export ONAIR_LL_SCREEN_DELAY=${LL_SCREEN_DELAY:-}
export ONAIR_LL_HLS_TIME=${LL_HLS_TIME:-}
export ONAIR_LATENCY_TRACE=${TRACE:-}
cargo test --release --test screens_in_step -- --ignored --nocapture --exact glass_to_glass_per_profile 2>&1 \
  | grep -E '^latency |^over |^test result|panicked|^error'
