#!/usr/bin/env bash
# The voc demo, end to end on this machine:
#   install what is missing -> build -> start tansu + ClickHouse -> create
#   topics and tables -> start a worker -> feed it realistic feedback from all
#   four channels (plus some malformed input) -> show what analysts and the
#   alerting system see -> stop the worker (the stack keeps running).
# The worker runs with --demo: the data is generated, so it pseudonymizes
# with the public demo key instead of a secret enrich.pseudonym_key.
# Knobs: VOC_DEMO_COUNT (20000), VOC_DEMO_RATE (0 = as fast as possible),
# plus the ports/data dir of deploy/local/env.sh. Stop the stack: deploy/stack.sh stop
set -euo pipefail
source "$(dirname "$0")/local/env.sh"
cd "$VOC_ROOT"
COUNT="${VOC_DEMO_COUNT:-20000}"
RATE="${VOC_DEMO_RATE:-0}"

"$VOC_ROOT/deploy/install.sh"
source "$VOC_ROOT/deploy/local/env.sh"   # again: now the venv (and its ONNX Runtime) exists
log "building voc (release)"
cargo build --release --quiet
VOC="$VOC_ROOT/target/release/voc"
"$VOC_ROOT/deploy/stack.sh" start

log "creating topics and ClickHouse schema (idempotent)"
"$VOC" topics create --local --partitions 6
"$VOC" schema migrate
"$VOC" gen customers        # the example customer dimension (O-data) for the joins

ch() { curl -sS --fail-with-body "$VOC_CLICKHOUSE__URL/" --data-binary "$1"; }

RUN="demo$(date +%s)"
mkdir -p "$VOC_DATA_DIR"
WORKER_LOG="$VOC_DATA_DIR/worker.log"
log "starting the worker (log: $WORKER_LOG, metrics: http://127.0.0.1:9464/metrics)"
"$VOC" run --demo >"$WORKER_LOG" 2>&1 &   # a demo: generated data, the public pseudonym key
WORKER=$!
trap 'kill -TERM $WORKER 2>/dev/null || true' EXIT

for _ in $(seq 1 300); do   # wait until the worker owns its partitions (group join)
    [ "$(curl -s http://127.0.0.1:9464/metrics | awk '/^voc_assigned_partitions/ {print $2}')" -gt 0 ] 2>/dev/null && break
    kill -0 $WORKER 2>/dev/null || die "worker exited; see $WORKER_LOG"
    sleep 0.2
done
log "producing $COUNT messages for run $RUN (app, call centre, community, branch; ~0.5% malformed)"
START=$(date +%s.%N)
"$VOC" gen --count "$COUNT" --rate "$RATE" --run-id "$RUN" --seed "$(date +%s)" --malformed-ratio 0.005 --manifest "$VOC_DATA_DIR/$RUN.manifest.jsonl"
EXPECTED=$(grep -c '"expect":"stored"' "$VOC_DATA_DIR/$RUN.manifest.jsonl" || true)
log "waiting for $EXPECTED distinct events in ClickHouse"
for _ in $(seq 1 600); do
    N=$(ch "SELECT uniqExact(event_id) FROM voc.feedback_events WHERE source_id LIKE '$RUN-%'")
    [ "$N" -ge "$EXPECTED" ] && break
    kill -0 $WORKER 2>/dev/null || die "worker exited; see $WORKER_LOG"
    sleep 0.2
done
END=$(date +%s.%N)
[ "$N" -ge "$EXPECTED" ] || die "only $N of $EXPECTED events arrived; see $WORKER_LOG"
python3 -c "s=$END-$START; print(f'\n== {$EXPECTED} events produced, enriched and stored in {s:.1f} s: {$EXPECTED/s:,.0f} events/s end to end ==')"

q() { echo; echo "-- $1"; ch "$2 FORMAT PrettyCompactMonoBlock"; }
F="voc.feedback WHERE source_id LIKE '$RUN-%'"
q "Events by channel and sentiment" \
  "SELECT channel, sentiment_label AS sentiment, count() AS events FROM $F GROUP BY channel, sentiment ORDER BY channel, sentiment"
q "NPS by channel (explicit scores only; inferred segments counted apart)" \
  "SELECT channel, countIf(nps_inferred = 0) AS scored, round(100 * (countIf(nps_segment = 'promoter' AND nps_inferred = 0) - countIf(nps_segment = 'detractor' AND nps_inferred = 0)) / greatest(countIf(nps_inferred = 0), 1), 1) AS nps, countIf(nps_segment = 'detractor' AND nps_inferred = 1) AS inferred_detractors FROM $F GROUP BY channel ORDER BY channel"
q "Top 10 pain points (痛点) and the department that owns them" \
  "SELECT tag_id, tag_zh, department, events FROM (SELECT arrayJoin(pain_tags) AS tag_id, count() AS events FROM $F GROUP BY tag_id) ANY LEFT JOIN (SELECT tag_id, tag_zh, department FROM voc.taxonomy FINAL) USING tag_id ORDER BY events DESC LIMIT 10"
q "Delights (悦点) by channel" \
  "SELECT channel, tag_id, tag_zh, events FROM (SELECT channel, arrayJoin(delight_tags) AS tag_id, count() AS events FROM $F GROUP BY channel, tag_id) ANY LEFT JOIN (SELECT tag_id, tag_zh FROM voc.taxonomy FINAL) USING tag_id ORDER BY events DESC LIMIT 8"
q "A few detractors, PII masked" \
  "SELECT channel, nps_score, sentiment_score, tag_ids, substringUTF8(text, 1, 40) AS text FROM $F AND nps_segment = 'detractor' AND notEmpty(pii_masked) LIMIT 5"

echo; echo "-- Alerts on topic voc.alerts (first 5: detractor, repeat complainer, spike)"
"$VOC" peek voc.alerts --max 100000 --idle-ms 1500 | python3 "$VOC_ROOT/deploy/local/show.py" alerts 5
echo; echo "-- Dead letters on topic voc.deadletter (first 5)"
"$VOC" peek voc.deadletter --max 5 | python3 "$VOC_ROOT/deploy/local/show.py" deadletters
echo; echo "-- Worker metrics (excerpt)"
curl -s http://127.0.0.1:9464/metrics | grep -E "^voc_(events_stored_total|dead_letters_total|alerts_published_total|assigned_partitions)" | head -14
curl -s http://127.0.0.1:9464/metrics | python3 "$VOC_ROOT/deploy/local/show.py" stages
echo "readyz: $(curl -s http://127.0.0.1:9464/readyz)"

REPORT="$VOC_DATA_DIR/report.html"
"$VOC" report --as-of latest --out "$REPORT" && log "HTML report (open it in a browser, works offline): $REPORT"
echo "More analyst questions: $VOC query   (list), $VOC query 01 --as-of latest   (run one)"

log "stopping the worker (SIGTERM: finish batch, commit, exit)"
kill -TERM $WORKER; wait $WORKER || true; trap - EXIT
log "demo done. Query more: curl $VOC_CLICKHOUSE__URL --data-binary 'SELECT ... FROM voc.feedback'; stop the stack: deploy/stack.sh stop"
