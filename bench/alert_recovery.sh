#!/usr/bin/env bash
# Cost of the alert read-back at a worker's start: VOC_BENCH_ALERTS (20000)
# detractor alerts on a fresh alert topic, none recorded (as after a crash
# between publish and record), then `voc run`: seconds from `subscribed` to
# the `alerts published but not recorded ... recorded` line, and, for
# comparison, an independent read of the same topic (confluent-kafka).
# Runs on the stack's broker and ClickHouse (deploy/stack.sh start first).
# Env: VOC_BENCH_BIN (default target/release/voc, built when missing).
# Numbers: docs/alerting.md.
set -euo pipefail
source "$(dirname "$0")/../deploy/local/env.sh"
source "$(dirname "$0")/lib.sh"
cd "$VOC_ROOT"
N="${VOC_BENCH_ALERTS:-20000}"
VOC="${VOC_BENCH_BIN:-$VOC_ROOT/target/release/voc}"
[ -x "$VOC" ] || cargo build --release --quiet
OUT="$VOC_DATA_DIR/bench"; mkdir -p "$OUT"
P="arec$(date +%s)"
DB="voc_bench_recovery_$P"
cleanup() {
    kill "${W:-}" 2>/dev/null || true
    curl -s "$VOC_CLICKHOUSE__URL" --data-binary "DROP DATABASE IF EXISTS $DB" >/dev/null || true
}
trap cleanup EXIT
cat >"$OUT/recovery.toml" <<CFG
[kafka]
group_id = "$P-worker"
$(bench_topics_toml "$P")
[clickhouse]
database = "$DB"
[metrics]
listen = ""
CFG
"$VOC" topics create --local --config "$OUT/recovery.toml" --partitions 3 2>/dev/null
"$VOC" schema apply --config "$OUT/recovery.toml"
PY="$VOC_VENV/bin/python"
log "producing $N alerts to $P.voc.alerts"
"$PY" bench/alert_recovery.py produce --brokers "$VOC_KAFKA__BROKERS" --topic "$P.voc.alerts" --count "$N"
VOC_DEMO=1 RUST_LOG=info "$VOC" run --config "$OUT/recovery.toml" 2>"$OUT/recovery-worker.log" >/dev/null &
W=$!
until grep -q "alerts published but not recorded" "$OUT/recovery-worker.log"; do
    kill -0 "$W" 2>/dev/null || die "the worker exited: see $OUT/recovery-worker.log"
    sleep 1
done
kill "$W"; wait "$W" 2>/dev/null || true
"$PY" - "$OUT/recovery-worker.log" <<'PYEOF'
import re, sys
from datetime import datetime
lines = [re.sub(r"\x1b\[[0-9;]*m", "", l) for l in open(sys.argv[1], encoding="utf-8")]
def at(text):
    l = next(l for l in lines if text in l)
    return datetime.fromisoformat(l.split()[0].rstrip("Z")[:26]), l
t0, _ = at("subscribed")
t1, line = at("alerts published but not recorded")
print(f"read-back at start: {(t1 - t0).total_seconds():.1f} s; {line.split('recorded ', 1)[1].strip()}")
PYEOF
log "the same topic read by an independent client:"
"$PY" bench/alert_recovery.py read --brokers "$VOC_KAFKA__BROKERS" --topic "$P.voc.alerts" --count "$N"
