"""Alert latency: produce time of the source message -> alert on the alert topic.

Phase 1 (live): tails only the alert topic and notes, for every detractor
alert (revision 0; its event is the trigger and carries `source` =
topic/partition/offset), the wall-clock time it was received here.
Phase 2 (after the run): reads the raw topics once to learn each source
message's CreateTime (set by the producer when `voc gen` sent it);
latency = received - CreateTime. Reading the raw topics afterwards keeps
this tool's own broker load out of the run (on a 2-core machine a second
consumer tailing 24 raw partitions competes with the system under test).
Receiving here adds the reader's own fetch delay, so the numbers are an upper
bound of what the worker takes. Prints a JSON summary.

Usage: alert_latency.py --topic-prefix P --run-seconds S [--idle 8]
"""
import argparse
import json
import time

from confluent_kafka import Consumer, TopicPartition

ap = argparse.ArgumentParser()
ap.add_argument("--brokers", default="127.0.0.1:9092")
ap.add_argument("--topic-prefix", required=True)
ap.add_argument("--run-seconds", type=float, required=True, help="stop this long after the first alert (plus --idle)")
ap.add_argument("--idle", type=float, default=8.0)
ap.add_argument("--warmup", type=float, default=5.0, help="ignore alerts of source messages in the first seconds")
ap.add_argument("--dump", help="write every (produce ms, latency ms) pair here as JSON lines")
ap.add_argument("--fetch-wait-ms", type=int, default=50, help="the reader's fetch.wait.max.ms (the worker's default)")
ap.add_argument("--timeout", type=float, help="give up after this many seconds in all (default: run seconds + 180)")
a = ap.parse_args()
# A reader left polling a broker (its worker died, no alert ever came) would
# load every later run on this machine: always end.
give_up = time.time() + (a.timeout if a.timeout is not None else a.run_seconds + 180)


def check_deadline(what):
    if time.time() > give_up:
        raise SystemExit(f"alert_latency.py: gave up {what} after the --timeout")
p = a.topic_prefix
raw = [f"{p}voc.raw.{c}" for c in ("app", "call_center", "community", "branch")]
alerts_topic = f"{p}voc.alerts"


def consumer(name):
    return Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": f"{p}latency-{name}-{time.time()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": a.fetch_wait_ms,
    })


# Phase 1: the alert topic, live.
c = consumer("alerts")
c.subscribe([alerts_topic])
received = []  # (source, received ms)
kinds = {}
first = None
last_msg = time.time()
while True:
    m = c.poll(0.2)
    now = time.time()
    check_deadline("waiting for alerts")
    if m is None:
        if first is not None and now - first > a.run_seconds and now - last_msg > a.idle:
            break
        continue
    if m.error():
        continue
    last_msg = now
    if first is None:
        first = now
    rec = json.loads(m.value())
    kinds[rec["kind"]] = kinds.get(rec["kind"], 0) + 1
    if rec["kind"] != "detractor" or rec["revision"] != 0:
        continue
    src = rec["events"][0].get("source")
    if src:
        received.append((src, now * 1000.0))
c.close()

# Phase 2: produce times of the raw messages, read once up to the end.
c = consumer("raw")
parts = []
for t in raw:
    md = c.list_topics(t, timeout=10).topics[t]
    for pid in md.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(t, pid), timeout=10)
        if hi > lo:
            parts.append((TopicPartition(t, pid, lo), hi))
c.assign([tp for tp, _ in parts])
left = {(tp.topic, tp.partition): hi for tp, hi in parts}
produced = {}
raw_count = 0
while left:
    check_deadline("reading the source messages")
    m = c.poll(1.0)
    if m is None or m.error():
        continue
    raw_count += 1
    produced[f"{m.topic()}/{m.partition()}/{m.offset()}"] = m.timestamp()[1]
    if m.offset() + 1 >= left.get((m.topic(), m.partition()), 0):
        left.pop((m.topic(), m.partition()), None)
c.close()

lat = [(produced[s], recv - produced[s]) for s, recv in received if s in produced]
if not lat:
    raise SystemExit("no detractor alerts matched their source messages")
if a.dump:
    with open(a.dump, "w") as f:
        for ts, l in sorted(lat):
            f.write(json.dumps([ts, round(l, 1)]) + "\n")
t0 = min(produced.values())
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
