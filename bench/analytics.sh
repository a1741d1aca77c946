#!/usr/bin/env bash
# Times every saved analyst query on 10 million synthetic events in a separate
# ClickHouse database (voc_bench_analytics, dropped afterwards). A benchmark,
# not a test: see docs/analytics.md. Extra arguments go to `voc bench queries`
# (e.g. --events 1000000, --keep).
set -euo pipefail
source "$(dirname "$0")/../deploy/local/env.sh"
cd "$VOC_ROOT"
"$VOC_ROOT/deploy/stack.sh" start
cargo build --quiet --bin voc
exec "$VOC_ROOT/target/debug/voc" bench queries "$@"
