"""Produce N detractor alerts (voc.alert.v2, each with its voc-triggers
header) to an alert topic, as a worker would have published them, or time an
independent read of that topic. Used by bench/alert_recovery.sh."""

import argparse
import json
import time
from datetime import datetime, timezone

from confluent_kafka import Consumer, Producer, TopicPartition


def alert(i, now):
    t = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    key = f"cust-{i:032x}"
    return {
        "schema": "voc.alert.v2", "alert_id": f"det-{i:032x}", "revision": 0,
        "kind": "detractor", "severity": "high", "dedup_key": f"detractor:{key}:c03.t02",
        "created_at": t, "first_seen": t, "window_closes_at": t, "occurrences": 1,
        "suppressed": 0, "sla_due": t, "customer_key": key, "customer_tier": None,
        "inferred": False,
        "events": [{"event_id": f"ev{i:030x}", "channel": "app", "event_time": t,
                    "text_excerpt": "升级以后转账失败,一直提示交易异常,太失望了",
                    "sentiment_score": -0.99, "nps_score": 0, "source": f"bench.app/0/{i}"}],
        "tags": [{"id": "c03.t02", "name_zh": "转账或支付失败", "polarity": "pain",
                  "department": "运营管理部"}],
        "pain": ["c03.t02"], "itch": [], "delight": [],
        "departments": ["运营管理部", "消费者权益保护部"],
        "work_order_title": "【严重】手机银行 转账或支付失败 - 客户评分0分",
        "repeat": None, "spike": None,
    }


def produce(brokers, topic, n):
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "enable.idempotence": True})
    now = datetime.now(timezone.utc)
    size = 0
    for i in range(n):
        a = alert(i, now)
        body = json.dumps(a, ensure_ascii=False).encode()
        size += len(body)
        triggers = json.dumps([a["events"][0]["event_id"]]).encode()
        p.produce(topic, key=a["customer_key"], value=body, headers=[("voc-triggers", triggers)])
        if i % 5000 == 4999:
            p.flush()
    p.flush()
    return {"produced": n, "bytes_per_alert": size // max(n, 1)}


def read(brokers, topic, n):
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"{topic}-reader"})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    t0 = time.time()
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    got = 0
    while got < n:
        m = c.poll(60)
        if m is None:
            break
        if not m.error():
            got += 1
    return {"read": got, "seconds": round(time.time() - t0, 1)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["produce", "read"])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=20000)
    a = ap.parse_args()
    f = produce if a.mode == "produce" else read
    print(json.dumps(f(a.brokers, a.topic, a.count)))
