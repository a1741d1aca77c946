"""Alert latency: produce time of the source message -> alert on the alert topic.

Tails the raw topics (to learn each source message's produce timestamp by
topic/partition/offset) and the alert topic at the same time; for every
detractor alert (revision 0; its event is the trigger and carries `source`),
latency = wall-clock time the alert was received here - the source message's
CreateTime (set by the producer when `voc gen` sent it). Receiving here adds the
reader's own fetch delay, so the numbers are an upper bound of what the worker
takes. Prints a JSON summary.

Usage: alert_latency.py --topic-prefix P --expect-seconds S [--idle 8]
"""
import argparse
import json
import time

from confluent_kafka import Consumer

ap = argparse.ArgumentParser()
ap.add_argument("--brokers", default="127.0.0.1:9092")
ap.add_argument("--topic-prefix", required=True)
ap.add_argument("--run-seconds", type=float, required=True, help="stop this long after the first raw message (plus --idle)")
ap.add_argument("--idle", type=float, default=8.0)
ap.add_argument("--warmup", type=float, default=5.0, help="ignore alerts of source messages in the first seconds")
a = ap.parse_args()
p = a.topic_prefix
raw = [f"{p}voc.raw.{c}" for c in ("app", "call_center", "community", "branch")]
alerts_topic = f"{p}voc.alerts"
c = Consumer({
    "bootstrap.servers": a.brokers,
    "group.id": f"{p}latency-{time.time()}",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "fetch.wait.max.ms": 10,
})
c.subscribe(raw + [alerts_topic])
produced = {}  # "topic/partition/offset" -> produce ms
pending = []   # (source, received ms) for alerts whose source was not seen yet
lat = []
kinds = {}
first_raw = None
last_msg = time.time()
raw_count = 0
while True:
    m = c.poll(0.2)
    now = time.time()
    if m is None:
        if first_raw is not None and now - first_raw > a.run_seconds and now - last_msg > a.idle:
            break
        continue
    if m.error():
        continue
    last_msg = now
    if m.topic() == alerts_topic:
        rec = json.loads(m.value())
        kinds[rec["kind"]] = kinds.get(rec["kind"], 0) + 1
        if rec["kind"] != "detractor" or rec["revision"] != 0:
            continue
        src = rec["events"][0].get("source")
        if src:
            pending.append((src, now * 1000.0))
    else:
        raw_count += 1
        ts = m.timestamp()[1]
        produced[f"{m.topic()}/{m.partition()}/{m.offset()}"] = ts
        if first_raw is None:
            first_raw = now
    if len(pending) > 1000 or m.topic() != alerts_topic:
        keep = []
        for src, recv in pending:
            ts = produced.get(src)
            if ts is None:
                keep.append((src, recv))
            else:
                lat.append((ts, recv - ts))
        pending = keep
for src, recv in pending:
    ts = produced.get(src)
    if ts is not None:
        lat.append((ts, recv - ts))
c.close()
if not lat:
    raise SystemExit("no detractor alerts matched their source messages")
t0 = min(ts for ts, _ in lat)
vals = sorted(l for ts, l in lat if ts - t0 >= a.warmup * 1000)
q = lambda f: vals[min(len(vals) - 1, int(f * len(vals)))]
print(json.dumps({
    "raw_messages": raw_count,
    "alerts_by_kind": kinds,
    "detractor_alerts_measured": len(vals),
    "latency_ms_p50": round(q(0.50), 1),
    "latency_ms_p90": round(q(0.90), 1),
    "latency_ms_p99": round(q(0.99), 1),
    "latency_ms_max": round(vals[-1], 1),
}))
