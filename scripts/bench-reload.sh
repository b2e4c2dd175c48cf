#!/usr/bin/env bash
# Hot-reload latency and segment continuity of the untouched streams.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench reload
