#!/usr/bin/env bash
# Side-by-side benchmark on the local stack (Rust worker vs the Python
# baseline), one run, same input:
#   1. peak: N messages pre-produced, then the Rust worker drains them twice
#      (everything, alerting included; then alerting off, the baseline's work),
#      then the Python baseline (bench/python_baseline/pipeline.py) drains the
#      same topics, each with its own consumer group into its own database;
#      Before them, `voc bench consume|insert` measure the ceilings: raw consume
#      of the same messages, raw insert of as many enriched rows;
#   2. fixed rate: the Rust worker under a steady VOC_BENCH_RATE msg/s load,
#      reporting produce-to-visible latency; twice, alerting on and off.
# Env: VOC_BENCH_COUNT (50000), VOC_BENCH_RATE (5000), VOC_BENCH_RATE_SECONDS (10),
# VOC_BENCH_BROKER (`private`: a throwaway broker, see bench/lib.sh; or `shared`).
# voc runs with --demo: the input is generated (pseudonyms under the public demo key).
set -euo pipefail
source "$(dirname "$0")/../deploy/local/env.sh"
source "$(dirname "$0")/lib.sh"
cd "$VOC_ROOT"
N="${VOC_BENCH_COUNT:-50000}"
RATE="${VOC_BENCH_RATE:-5000}"
RATE_N=$(( RATE * ${VOC_BENCH_RATE_SECONDS:-10} ))
"$VOC_ROOT/deploy/install.sh" >/dev/null
source "$VOC_ROOT/deploy/local/env.sh"
cargo build --release --quiet
"$VOC_ROOT/deploy/stack.sh" start >/dev/null
VOC="$VOC_ROOT/target/release/voc"
OUT="$VOC_DATA_DIR/bench"; mkdir -p "$OUT"

config() { # prefix database group
    cat <<CFG
[kafka]
group_id = "$3"
[kafka.topics]
app = "$1.voc.raw.app"
call_center = "$1.voc.raw.call_center"
community = "$1.voc.raw.community"
branch = "$1.voc.raw.branch"
[topics]
dead_letter = "$1.voc.deadletter"
alerts = "$1.voc.alerts"
[clickhouse]
database = "$2"
[metrics]
listen = ""
CFG
}

P="bench$(date +%s)"
cleanup() {
    for pid in ${W:-}; do kill "$pid" 2>/dev/null || true; done
    bench_broker_stop
}
trap cleanup EXIT
bench_broker_start "$OUT/broker-$P"
config "$P" voc_bench_rust "$P-rust" >"$OUT/rust.toml"
config "$P" voc_bench_python "$P-python" >"$OUT/python.toml"
config "$P" voc_bench_same "$P-same" >"$OUT/same.toml"
"$VOC" topics create --local --config "$OUT/rust.toml" --partitions 6 2>/dev/null
for db in voc_bench_rust voc_bench_same voc_bench_python; do   # fresh tables every run
    bench_drop_database "$db"
done
"$VOC" schema apply --config "$OUT/rust.toml"
"$VOC" schema apply --config "$OUT/python.toml"
"$VOC" schema apply --config "$OUT/same.toml"

log "peak: producing $N messages (no duplicates, no malformed: both pipelines see only valid input)"
"$VOC" gen --config "$OUT/rust.toml" --count "$N" --run-id "$P" --seed 1 --duplicate-ratio 0
log "ceilings: raw consume of the same $N messages, raw insert of $N enriched rows"
"$VOC" bench consume --config "$OUT/rust.toml" --count "$N" | tee "$OUT/consume.json"
"$VOC" bench insert --demo --config "$OUT/rust.toml" --count "$N" | tee "$OUT/insert.json"
bench_drop_database voc_bench_rust_bench
log "Rust worker draining $N messages (everything it does in production, alerting included)"
"$VOC" run --demo --config "$OUT/rust.toml" --exit-after "$N" 2>"$OUT/rust.log" | tee "$OUT/rust.json"
# The same work as the baseline: alerting is the one stage the baseline lacks
# (the worker still does more: dead-letter checks, keywords, clause analysis).
log "Rust worker with alerting off (the baseline's work) draining the same $N messages"
VOC_ALERT__DETRACTOR__ENABLED=false VOC_ALERT__REPEAT__ENABLED=false VOC_ALERT__SPIKE__ENABLED=false \
    "$VOC" run --demo --config "$OUT/same.toml" --exit-after "$N" 2>"$OUT/same.log" | tee "$OUT/same.json"
log "Python baseline draining the same $N messages"
"$VOC_VENV/bin/python" bench/python_baseline/pipeline.py --topic-prefix "$P." --group "$P-python" \
    --database voc_bench_python --expect "$N" | tee "$OUT/python.json"

# fixed_rate NAME SUFFIX [ENV...]: a fresh worker (with ENV) on fresh topics
# under RATE msg/s for RATE_N messages; its summary goes to $OUT/NAME.json.
fixed_rate() {
    local name="$1" p2="${P}$2"; shift 2
    log "fixed rate ($name): $RATE msg/s for $RATE_N messages into the Rust worker"
    config "$p2" voc_bench_rust "$p2-rust" >"$OUT/$name.toml"
    "$VOC" topics create --local --config "$OUT/$name.toml" --partitions 6 2>/dev/null
    env "$@" "$VOC" run --demo --config "$OUT/$name.toml" --exit-after "$RATE_N" 2>"$OUT/$name.log" >"$OUT/$name.json" &
    W=$!
    sleep 5   # group join
    "$VOC" gen --config "$OUT/$name.toml" --count "$RATE_N" --rate "$RATE" --run-id "$p2" --seed 2 --duplicate-ratio 0
    wait $W || die "the fixed-rate worker failed: see $OUT/$name.log"
    W=""
    cat "$OUT/$name.json"
}
fixed_rate rate r
fixed_rate rate_same s VOC_ALERT__DETRACTOR__ENABLED=false VOC_ALERT__REPEAT__ENABLED=false VOC_ALERT__SPIKE__ENABLED=false

"$VOC_VENV/bin/python" - "$OUT" <<'PY'
import json, sys, os
o = sys.argv[1]
r, s, p, q, qs, cc, ci = (json.load(open(os.path.join(o, f))) for f in ("rust.json", "same.json", "python.json", "rate.json", "rate_same.json", "consume.json", "insert.json"))
per_core = lambda x: x["events"] / max(x["cpu_seconds"], 1e-9)
print()
print("| pipeline | events | seconds | events/s | CPU s / 1000 events | events/s per CPU core | peak RSS MB |")
print("|---|---|---|---|---|---|---|")
for name, x in (("Rust voc, alerting off (the baseline's work)", s), ("Rust voc, everything (alerting on)", r)):
    print(f'| {name} | {x["events"]} | {x["seconds"]:.2f} | {x["events_per_s"]:,.0f} | {x["cpu_seconds_per_1000_events"]:.3f} | {per_core(x):,.0f} | {x["peak_rss_mb"]:.0f} |')
print(f'| Python baseline | {p["events"]} | {p["seconds"]:.2f} | {p["events_per_s"]:,.0f} | {1000 * p["cpu_seconds"] / p["events"]:.3f} | {per_core(p):,.0f} | - |')
print(f'\nRust / Python, same work: {s["events_per_s"] / p["events_per_s"]:.1f}x events/s, {per_core(s) / per_core(p):.1f}x events/s per CPU core')
print(f'Rust with alerting / Python: {r["events_per_s"] / p["events_per_s"]:.1f}x events/s, {per_core(r) / per_core(p):.1f}x events/s per CPU core')
print(f'Ceilings: raw consume {cc["items_per_s"]:,.0f} msg/s ({cc["mb_per_s"]:.1f} MB/s), raw insert {ci["items_per_s"]:,.0f} rows/s (batches of {ci["batch"]}); the worker reached {r["events_per_s"] / cc["items_per_s"]:.0%} of the consume and {r["events_per_s"] / ci["items_per_s"]:.0%} of the insert ceiling')
for name, x in (("alerting off", qs), ("alerting on", q)):
    print(f'Fixed rate, {name}: {x["events"]} events, produce-to-visible p50 {x["latency_ms_p50"]} ms, p99 {x["latency_ms_p99"]} ms, max {x["latency_ms_max"]} ms, {x["cpu_seconds_per_1000_events"]:.3f} CPU s / 1000 events, peak RSS {x["peak_rss_mb"]:.0f} MB')
PY
