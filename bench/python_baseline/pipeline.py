#!/usr/bin/env python3
"""The Python baseline of bench/run.sh: the same work as `voc run`, written the way
a Python team would write it, to measure the Rust worker against side by side.

Kafka (confluent-kafka, batched consume, manual commits after the insert) ->
decode the four channels' JSON -> NFKC + traditional->simplified (zhconv) ->
PII masking (regex) -> jieba with models/banking_dict.txt -> the same hashed
features (enrich/src/features.rs re-implemented: words, characters, character
bigrams, negation scope, last clause, length bucket, ?/!) -> onnxruntime with
models/voc-text.onnx (in chunks of 64 rows by width, as the worker) -> sentiment, tags, NPS -> ClickHouse
(clickhouse-driver, one INSERT per batch) -> commit.

It reads the same config keys through environment variables as the worker:
VOC_KAFKA__BROKERS, VOC_CLICKHOUSE_TCP (host:port of the native protocol),
and takes topics/database/group on the command line. It stops after --expect
events were stored, printing a JSON line with its timings.

Not covered (the Rust worker does them): dead-letter and alert publishing,
clause-level sentiment, keywords, metrics. The comparison therefore favours
the baseline; see docs/benchmarks.md.
"""
import argparse, json, math, os, re, sys, time, unicodedata
from datetime import datetime, timezone, timedelta

import numpy as np
import onnxruntime as ort
import jieba
import zhconv
from confluent_kafka import Consumer, TopicPartition
from clickhouse_driver import Client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHANGHAI = timezone(timedelta(hours=8))

PHONE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
IDCARD = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
CARD = re.compile(r"(?<!\d)\d{15,19}(?!\d)")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+ ?(?:@|艾特) ?[A-Za-z0-9\-]+(?: ?(?:\.|点|dot| ) ?[A-Za-z][A-Za-z0-9\-]*)*")


def mask(t):
    t = EMAIL.sub("[EMAIL]", t)
    t = IDCARD.sub("[ID]", t)
    t = PHONE.sub("[PHONE]", t)
    return CARD.sub("[CARD]", t)


def normalize(t):
    t = unicodedata.normalize("NFKC", t)
    if not t.isascii():
        t = zhconv.convert(t, "zh-hans")
    return " ".join(t.split())[:2000]


def fnv1a(kind, s):
    h = ((0x811C9DC5 ^ kind) * 0x01000193) & 0xFFFFFFFF
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def is_word(s):
    return any(c.isalnum() or ord(c) >= 0x1F000 for c in s)


NEGATORS = {"不", "没", "没有", "不是", "不能", "不会", "不要", "无法", "不太", "不够", "不用", "不想",
            "不算", "未", "别", "不敢", "不再", "没法", "不怎么", "不可", "无", "非", "从不", "并不",
            "从没", "毫无", "绝不", "不让", "不肯", "不必", "不该", "不大", "不至于"}
CLAUSE_BREAKS = set("，。！？；,.!?;~～…、：:")


def clauses(text, tokens):
    """Clause index of each token (as enrich/src/features.rs)."""
    pos, clause, out = 0, 0, []
    for t in tokens:
        j = text.find(t, pos)
        if j >= 0:
            if any(c.isspace() or c in CLAUSE_BREAKS for c in text[pos:j]):
                clause += 1
            pos = j + len(t)
        out.append(clause)
    return out


def featurize(text, tokens):
    """The worker's features (enrich/src/features.rs): w, c, b, p, L, n, l."""
    raw = [fnv1a(0x77, t) for t in tokens]
    prev = None
    word_chars = 0
    for ch in text:
        if ch in "?？":
            raw.append(fnv1a(0x70, "?"))
        elif ch in "!！":
            raw.append(fnv1a(0x70, "!"))
        if not is_word(ch):
            prev = None
            continue
        word_chars += 1
        raw.append(fnv1a(0x63, ch))
        if prev is not None:
            raw.append(fnv1a(0x62, prev + ch))
        prev = ch
    raw.append(fnv1a(0x4C, str(min(word_chars, 255).bit_length())))
    of = clauses(text, tokens)
    last = of[-1] if of else None
    negated = None
    for t, c in zip(tokens, of):
        if negated == c:
            raw.append(fnv1a(0x6E, t))
        if t in NEGATORS:
            negated = c
        if last == c:
            raw.append(fnv1a(0x6C, t))
    counts = {}
    for r in raw:
        counts[r] = counts.get(r, 0) + 1
    ids = sorted(counts)
    w = np.array([1.0 + math.log(counts[i]) for i in ids], dtype=np.float32)
    n = float(np.sqrt((w * w).sum())) or 1.0
    return ids, w / n


def parse_time(v):
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.strip().replace(".", "", 1).isdigit()):
        x = float(v)
        return datetime.fromtimestamp(x / 1000 if x >= 1e11 else x, timezone.utc)
    s = v.strip()
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        d = datetime.strptime(s, "%Y/%m/%d %H:%M:%S")
    return d if d.tzinfo else d.replace(tzinfo=SHANGHAI)


def decode(channel, payload):
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("gb18030")
    o = json.loads(text)
    if channel == "app":
        sid, voice, t, nps = o.get("id") or o.get("feedback_id"), o.get("text", ""), o.get("time"), o.get("nps")
    elif channel == "call_center":
        turns = sorted(o["turns"], key=lambda x: x.get("start_ms", 0))
        sid, t, nps = o["call_id"], o.get("start_time"), o.get("nps")
        voice = "。".join(x["text"] for x in turns if x["speaker"] == "customer" and x.get("text"))
    elif channel == "community":
        sid, t, nps = o["post_id"], o.get("time"), None
        voice = "。".join(x for x in (o.get("title"), o.get("content")) if x)
    else:
        sid, voice, t, nps = o["card_id"], o.get("comment", ""), o.get("time"), o.get("score")
    nps = None if nps in (None, "") else int(float(nps))
    return str(sid), voice or "", parse_time(t), nps, o.get("customer_id", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topic-prefix", default="")
    ap.add_argument("--group", default="voc-python-baseline")
    ap.add_argument("--database", default="voc_python")
    ap.add_argument("--expect", type=int, required=True, help="stop after this many events were stored")
    ap.add_argument("--batch", type=int, default=5000)
    a = ap.parse_args()

    meta = json.load(open(os.path.join(ROOT, "models/voc-text.meta.json"), encoding="utf-8"))
    with open(os.path.join(ROOT, "models/taxonomy.tsv"), encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        polarity = {r["tag_id"]: r["polarity_class"] for r in (dict(zip(head, l.rstrip("\n").split("\t"))) for l in f if l.strip())}
    th = np.array(meta["thresholds"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(ROOT, "models/voc-text.onnx"), so, providers=["CPUExecutionProvider"])
    jieba.setLogLevel(60)
    jieba.load_userdict(os.path.join(ROOT, "models/banking_dict.txt"))
    jieba.initialize()
    host, port = os.environ.get("VOC_CLICKHOUSE_TCP", "127.0.0.1:9000").split(":")
    ch = Client(host=host, port=int(port), database=a.database)
    channels = {f"{a.topic_prefix}voc.raw.{c}": c for c in ("app", "call_center", "community", "branch")}
    consumer = Consumer({"bootstrap.servers": os.environ.get("VOC_KAFKA__BROKERS", "127.0.0.1:9092"), "group.id": a.group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe(list(channels))
    stored, first, cpu0 = 0, None, time.process_time()
    while stored < a.expect:
        msgs = consumer.consume(num_messages=a.batch, timeout=0.2)
        if not msgs:
            continue
        if first is None:
            first = time.time()
        rows, feats, offsets = [], [], {}
        for m in msgs:
            if m.error():
                continue
            offsets[(m.topic(), m.partition())] = m.offset() + 1
            channel = channels.get(m.topic())
            try:
                sid, voice, t, nps, cust = decode(channel, m.value() or b"")
            except Exception:
                continue  # the baseline drops bad input (no dead-letter topic)
            text = mask(normalize(voice))
            tokens = [w for w in jieba.lcut(text) if is_word(w)]
            feats.append(featurize(text, tokens))
            rows.append([sid, channel, t or datetime.now(timezone.utc), text, tokens, nps, cust, m.topic(), m.partition(), m.offset()])
        # Model calls in chunks of 64 rows in order of width, as the worker does
        # (ONNX Runtime is ~3x faster per row than with one call of thousands of
        # padded rows; rows of similar width pad less).
        sent = np.zeros((len(feats), 3), np.float32)
        tags = np.zeros((len(feats), len(meta["tag_ids"])), np.float32)
        order = sorted(range(len(feats)), key=lambda i: len(feats[i][0]))
        for c0 in range(0, len(feats), 64):
            at = order[c0:c0 + 64]
            chunk = [feats[i] for i in at]
            width = max([len(f[0]) for f in chunk] + [1])
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            w = np.zeros((len(chunk), width), dtype=np.float32)
            for r, (fi, fw) in enumerate(chunk):
                ids[r, :len(fi)] = fi
                w[r, :len(fw)] = fw
            s_, t_ = sess.run(["sentiment", "tags"], {"ids": ids, "weights": w})
            sent[at], tags[at] = s_, t_
        now = datetime.now(timezone.utc)
        out = []
        for r, row in enumerate(rows):
            sid, channel, t, text, tokens, nps, cust, topic, part, off = row
            s = sent[r]
            label = ["negative", "neutral", "positive"][int(np.argmax(s))]
            score = float(s[2] - s[0])
            hit = [j for j in np.nonzero(tags[r] >= th)[0]]
            seg = ("promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor") if nps is not None else \
                  ("detractor" if label == "negative" and score <= -0.5 else "promoter" if label == "positive" and score >= 0.6 else "passive")
            tag_ids = [meta["tag_ids"][j] for j in hit]
            # Parallel tag arrays, as the worker writes them (the event-tag view
            # ARRAY JOINs them); no clause analysis here: each tag takes the item's sentiment.
            out.append((f"{channel}:{sid}", sid, channel, t.replace(tzinfo=None), now.replace(tzinfo=None), cust, text, tokens,
                        label, score, tag_ids, [float(tags[r][j]) for j in hit], [polarity[i] for i in tag_ids],
                        [score] * len(tag_ids), nps, seg, int(nps is None), topic, part, off))
        if out:
            ch.execute("INSERT INTO feedback_events (event_id, source_id, channel, event_time, ingest_time, customer_key, text, tokens, "
                       "sentiment_label, sentiment_score, tag_ids, tag_scores, tag_polarities, tag_sentiments, nps_score, nps_segment, nps_inferred, "
                       "kafka_topic, kafka_partition, kafka_offset) VALUES", out)
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
        stored += len(out)
    end = time.time()
    print(json.dumps({"pipeline": "python", "events": stored, "seconds": round(end - first, 3),
                      "events_per_s": round(stored / (end - first), 1), "cpu_seconds": round(time.process_time() - cpu0, 2)}))
    consumer.close()


if __name__ == "__main__":
    main()
