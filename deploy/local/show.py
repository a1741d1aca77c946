"""Pretty-print alert or dead-letter JSON lines (stdin) for the demo."""
import json
import sys

kind = sys.argv[1]
if kind == "stages":
    # Prometheus text from /metrics -> mean time per batch in each stage.
    acc = {}
    for line in sys.stdin:
        if line.startswith("voc_stage_seconds_sum") or line.startswith("voc_stage_seconds_count"):
            name, value = line.rsplit(" ", 1)
            stage = name.split('stage="')[1].split('"')[0]
            acc.setdefault(stage, {})["sum" if "_sum" in name else "count"] = float(value)
    print("mean time per batch: " + ", ".join(
        f'{k} {1000 * v.get("sum", 0) / max(v.get("count", 1), 1):.1f} ms' for k, v in sorted(acc.items())))
    sys.exit(0)
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 5
shown = older = 0
for line in sys.stdin:
    r = json.loads(line)
    if kind == "alerts":
        # The topic keeps alerts of earlier versions (a re-run demo on an old stack):
        # show the current schema only.
        if r.get("schema") != "voc.alert.v2":
            older += 1
            continue
        if shown == limit:
            continue
        shown += 1
        e = (r.get("events") or [{"text_excerpt": ""}])[0]
        print(f'{r["kind"]:17} {r["severity"]:8} x{r["occurrences"]} {r["work_order_title"]} -> {",".join(r["departments"]) or "-"}'
              f' | SLA {r["sla_due"][:16]} | "{e["text_excerpt"][:40]}"')
    else:
        s = r["source"]
        print(f'{r["reason"]:18} {s["topic"]}/{s["partition"]}@{s["offset"]} | {r["detail"][:70]}')
if kind == "alerts" and older:
    print(f"({older} alerts of an older schema on the topic skipped)")
