#!/usr/bin/env bash
# Side-by-side worker drains under two settings, alternating, on the same
# pre-produced messages (alerting off):
#
#   bench/drain_ab.sh 'VOC_ENRICH__MODEL_BATCH=64' 'VOC_ENRICH__MODEL_BATCH=16'
#
# Each argument is a space-separated list of VAR=value overrides for `voc run`
# (any VOC_<SECTION>__<KEY> of the config). Every round drains all messages
# once per setting, each drain with its own consumer group into its own
# database (dropped at the end), and prints the worker's summary line
# (events/s, CPU seconds, peak RSS). Alternating rounds on one machine are the
# fair comparison on a shared host; read the spread, not one run.
# Env: VOC_BENCH_COUNT (40000 messages), VOC_BENCH_ROUNDS (3), and
# VOC_BENCH_BROKER as in bench/run.sh (a private throwaway broker by default).
set -euo pipefail
[ $# -eq 2 ] || { sed -n 2,15p "$0"; exit 2; }
source "$(dirname "$0")/../deploy/local/env.sh"
source "$(dirname "$0")/lib.sh"
cd "$VOC_ROOT"
N="${VOC_BENCH_COUNT:-40000}"
ROUNDS="${VOC_BENCH_ROUNDS:-3}"
cargo build --release --quiet
"$VOC_ROOT/deploy/stack.sh" start >/dev/null
VOC="$VOC_ROOT/target/release/voc"
OUT="$VOC_DATA_DIR/bench/ab"; rm -rf "$OUT"; mkdir -p "$OUT"
P="ab$(date +%s)"
DBS=()
drop_dbs() {
    for db in "${DBS[@]}"; do
        bench_drop_database "$db" || true
    done
}
trap 'drop_dbs; bench_broker_stop' EXIT
bench_broker_start "$OUT/broker-$P"
config() { # database group
    printf '[kafka]\ngroup_id = "%s"\n' "$2"
    bench_topics_toml "$P"
    printf '[clickhouse]\ndatabase = "%s"\n[metrics]\nlisten = ""\n' "$1"
}
config voc_bench_ab_setup "$P-setup" >"$OUT/setup.toml"
"$VOC" topics create --local --config "$OUT/setup.toml" --partitions 6 2>/dev/null
log "producing $N messages"
"$VOC" gen --config "$OUT/setup.toml" --count "$N" --run-id "$P" --seed 1 --duplicate-ratio 0 >/dev/null
for round in $(seq "$ROUNDS"); do
    for side in A B; do
        if [ "$side" = A ]; then settings="$1"; else settings="$2"; fi
        db="voc_bench_ab_${side,,}_$round"; DBS+=("$db")
        config "$db" "$P-$side-$round" >"$OUT/$db.toml"
        "$VOC" schema apply --config "$OUT/$db.toml" >"$OUT/$db.schema.log" 2>&1 \
            || die "schema apply failed: see $OUT/$db.schema.log"
        # shellcheck disable=SC2086 # settings is a list of VAR=value words
        env $settings VOC_ALERT__DETRACTOR__ENABLED=false VOC_ALERT__REPEAT__ENABLED=false \
            VOC_ALERT__SPIKE__ENABLED=false \
            "$VOC" run --demo --config "$OUT/$db.toml" --exit-after "$N" 2>"$OUT/$db.log" >"$OUT/$db.json" \
            || die "the worker failed: see $OUT/$db.log"
        echo "round $round $side ($settings): $(cat "$OUT/$db.json")"
    done
done
