"""Pretty-print alert or dead-letter JSON lines (stdin) for the demo."""
import json
import sys

kind = sys.argv[1]
for line in sys.stdin:
    r = json.loads(line)
    if kind == "alerts":
        e = r["event"]
        print(f'{r["severity"]:8} {r["work_order_title"]} -> {",".join(r["departments"]) or "-"}'
              f' | SLA {r["sla_due"][:16]} | "{e["text_excerpt"][:40]}"')
    else:
        s = r["source"]
        print(f'{r["reason"]:18} {s["topic"]}/{s["partition"]}@{s["offset"]} | {r["detail"][:70]}')
