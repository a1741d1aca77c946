#!/usr/bin/env bash
# Alert latency at a sustained rate: source message produce time ->
# alert on the alert topic, p50/p99, with the worker doing everything it does
# in production (ClickHouse insert, detractor/repeat/spike evaluation with its
# ClickHouse queries, suppression, publish, record, commit).
#   1. a fresh topic prefix and database, topics and schema;
#   2. one worker (`voc run`), the latency reader (bench/alert_latency.py);
#   3. `voc gen --rate RATE` for SECONDS seconds (no duplicates).
# Env: VOC_BENCH_RATE (2000), VOC_BENCH_SECONDS (60), VOC_BENCH_CUSTOMERS
# (3000: the generator's default pool, so every customer is a repeat
# complainer within seconds; a bank has millions), VOC_BENCH_BIN (a prebuilt
# voc binary, for A/B runs; default: build target/release/voc),
# VOC_BENCH_BROKER: `private` (default: a throwaway broker, see bench/lib.sh)
# or `shared` (the stack's).
# The worker runs as a demo (VOC_DEMO=1, which binaries older than the flag
# ignore): the input is generated (pseudonyms under the public demo key).
# Numbers: docs/alerting.md.
set -euo pipefail
source "$(dirname "$0")/../deploy/local/env.sh"
source "$(dirname "$0")/lib.sh"
cd "$VOC_ROOT"
RATE="${VOC_BENCH_RATE:-2000}"
SECONDS_RUN="${VOC_BENCH_SECONDS:-60}"
N=$(( RATE * SECONDS_RUN ))
"$VOC_ROOT/deploy/install.sh" >/dev/null
source "$VOC_ROOT/deploy/local/env.sh"
[ -n "${VOC_BENCH_BIN:-}" ] || cargo build --release --quiet
"$VOC_ROOT/deploy/stack.sh" start >/dev/null
VOC="${VOC_BENCH_BIN:-$VOC_ROOT/target/release/voc}"
OUT="$VOC_DATA_DIR/bench"; mkdir -p "$OUT"
P="alat$(date +%s)"
DB="voc_bench_alerts_$P"
cleanup() {
    # Never leave the worker or the reader running (they would load later runs).
    for pid in ${W:-} ${R:-}; do kill "$pid" 2>/dev/null || true; done
    curl -s "$VOC_CLICKHOUSE__URL" --data-binary "DROP DATABASE IF EXISTS $DB" >/dev/null || true
    bench_broker_stop
}
trap cleanup EXIT
bench_broker_start "$OUT/broker-$P"
cat >"$OUT/alerts.toml" <<CFG
[kafka]
group_id = "$P-worker"
${VOC_BENCH_KAFKA_EXTRA:-}
$(bench_topics_toml "$P")
[clickhouse]
database = "$DB"
[metrics]
listen = "127.0.0.1:9478"
CFG
"$VOC" topics create --local --config "$OUT/alerts.toml" --partitions 6 2>/dev/null
"$VOC" schema apply --config "$OUT/alerts.toml"
VOC_DEMO=1 "$VOC" run --config "$OUT/alerts.toml" --exit-after "$N" 2>"$OUT/alerts-worker.log" >"$OUT/alerts-worker.json" &
W=$!
"$VOC_VENV/bin/python" bench/alert_latency.py --brokers "$VOC_KAFKA__BROKERS" --topic-prefix "$P." \
    --run-seconds "$SECONDS_RUN" --dump "$OUT/alert-latency-pairs.jsonl" >"$OUT/alert-latency.json" &
R=$!
sleep 5   # group join
# Stage times from the worker's /metrics near the end of the run.
( sleep $(( SECONDS_RUN - 5 )); curl -s http://127.0.0.1:9478/metrics >"$OUT/alerts-metrics.txt"
  "$VOC_VENV/bin/python" deploy/local/show.py stages <"$OUT/alerts-metrics.txt" >"$OUT/alerts-stages.txt" ) &
# CPU seconds of the broker and ClickHouse over the run (the machine is shared
# by all three; the worker reports its own).
TPID="$(bench_broker_pid)"
CPID="$(cat "$VOC_DATA_DIR/clickhouse/clickhouse.pid")"
T0="$(cpu_seconds "$TPID")"; C0="$(cpu_seconds "$CPID")"
log "producing $N messages at $RATE msg/s"
"$VOC" gen --config "$OUT/alerts.toml" --count "$N" --rate "$RATE" --run-id "$P" --seed 3 --duplicate-ratio 0 --spread-hours 1 \
    --customers "${VOC_BENCH_CUSTOMERS:-3000}"
wait $W || die "the worker failed: see $OUT/alerts-worker.log"
log "cpu seconds during the run: broker $(( $(cpu_seconds "$TPID") - T0 )), clickhouse $(( $(cpu_seconds "$CPID") - C0 ))"
wait $R || die "the latency reader failed"
log "mean stage times per batch: $(tr '\n' ' ' <"$OUT/alerts-stages.txt")"
# Correctness beside speed: every customer with three or more negative touches
# (alert.repeat.min_occasions, default) got one repeat-complainer alert.
sleep 2   # the recorder writes at most every 500 ms
q() { curl -s "$VOC_CLICKHOUSE__URL" --data-binary "$1"; }
TRUTH="$(q "SELECT count() FROM (SELECT customer_key FROM $DB.negative_touches GROUP BY customer_key HAVING uniqExact(event_id) >= 3)")"
ALERTED="$(q "SELECT uniqExact(customer_key) FROM $DB.alerts WHERE kind = 'repeat_complainer' AND revision = 0")"
log "repeat complainers: $ALERTED alerted, $TRUTH customers with 3+ negative touches"
log "worker: $(cat "$OUT/alerts-worker.json")"
log "alerts: $(cat "$OUT/alert-latency.json")"
cat "$OUT/alert-latency.json"
