#!/usr/bin/env python3
"""Check the labelled data against the rules of models/LABELLING.md that a program can check.

Every line of data/train/*.jsonl and data/test/*.jsonl must be a JSON object with a
non-empty `text`, a known `channel`, a `sentiment` of negative / neutral / positive and
`tags` drawn from taxonomy.tsv's active tags, and:
  - a neutral item carries no pain tag (the guide: "a remark that reports a problem is
    negative"; a neutral item with a pain tag contradicts itself, whichever label is wrong);
  - every held-out item has exactly one record in data/heldout_audit.jsonl, whose final
    `sentiment` is the file's label (the record keeps the label as first written and each
    annotator's, so a label edited in one place only is caught here).

Usage: python3 models/check_data.py     exit status 1 and one line per problem when any is found
       python3 models/check_data.py --self-test   the checks themselves, on made-up bad items
"""
import argparse, glob, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calibrate  # models/calibrate.py: the channels and sentiment labels the evaluation uses
import train  # models/train.py: the taxonomy as training reads it

HERE = os.path.dirname(os.path.abspath(__file__))
CHANNELS = set(calibrate.CHANNELS)
SENTIMENTS = set(calibrate.LABELS)


def taxonomy():
    """Polarity class (pain / itch / delight) of every active tag."""
    return {r["tag_id"]: r["polarity_class"] for r in train.load_taxonomy() if not train.is_retired(r)}


def check_item(x, polarity):
    """Problems of one labelled item (empty when it follows the guide's checkable rules)."""
    if not isinstance(x, dict):
        return ["not a JSON object"]
    out = []
    if not isinstance(x.get("text"), str) or not x["text"].strip():
        out.append("empty or missing text")
    if x.get("channel") not in CHANNELS:
        out.append(f"unknown channel {x.get('channel')!r}")
    if x.get("sentiment") not in SENTIMENTS:
        out.append(f"unknown sentiment {x.get('sentiment')!r}")
    tags = x.get("tags")
    if not isinstance(tags, list):
        return out + ["tags is not a list"]
    out += [f"unknown or retired tag {t!r}" for t in tags if t not in polarity]
    pains = [t for t in tags if polarity.get(t) == "pain"]
    if x.get("sentiment") == "neutral" and pains:
        out.append(f"neutral item with pain tag {', '.join(pains)} (LABELLING.md: a remark that reports a problem is negative)")
    return out


def check_audit(test_items, audit_rows):
    """Problems between the held-out files {name: items} and the audit records."""
    out, seen = [], {}
    for r in audit_rows:
        key = (r.get("file"), r.get("text"))
        if key in seen:
            out.append(f"heldout_audit.jsonl: two records for {key[0]}: {str(key[1])[:40]}")
        seen[key] = r
    for name, items in test_items.items():
        for x in items:
            r = seen.pop((name, x.get("text")), None)
            if r is None:
                out.append(f"{name}: no audit record for {str(x.get('text'))[:40]}")
            elif r.get("sentiment") != x.get("sentiment"):
                out.append(f"{name}: label {x.get('sentiment')!r} but the audit's final label is {r.get('sentiment')!r}: {x['text'][:40]}")
    out += [f"heldout_audit.jsonl: record for an item not in {f}: {str(t)[:40]}" for f, t in seen]
    return out


def read(path):
    """(items, problems) of a JSON-lines file: a line that is not JSON is a problem, not a crash."""
    items, problems = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    items.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    problems.append(f"{os.path.relpath(path, HERE)}:{n}: not JSON ({e})")
    return items, problems


def self_test():
    """Each check must catch its made-up bad input and pass the good one."""
    pol = {"c01.t01": "pain", "c01.t02": "itch"}
    good = {"text": "请问怎么改密码", "channel": "app", "sentiment": "neutral", "tags": ["c01.t02"]}
    assert check_item(good, pol) == []
    for bad, want in (({**good, "tags": ["c01.t01"]}, "pain tag"), ({**good, "tags": ["c99.t01"]}, "unknown or retired tag"),
                      ({**good, "channel": "email"}, "unknown channel"), ({**good, "sentiment": "angry"}, "unknown sentiment"),
                      ({**good, "text": " "}, "empty"), ({**good, "tags": "c01.t01"}, "not a list"), ([], "not a JSON object")):
        got = check_item(bad, pol)
        assert any(want in p for p in got), (bad, got)
    rec = {"file": "h.jsonl", "text": good["text"], "sentiment": "neutral"}
    assert check_audit({"h.jsonl": [good]}, [rec]) == []
    for items, rows, want in (([good], [], "no audit record"), ([good], [{**rec, "sentiment": "negative"}], "final label"),
                              ([good], [rec, rec], "two records"), ([], [rec], "not in h.jsonl")):
        got = check_audit({"h.jsonl": items}, rows)
        assert any(want in p for p in got), (items, rows, got)
    print("check_data self-test: ok", file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true", help="run the checks on made-up bad items instead of the data")
    if ap.parse_args().self_test:
        return self_test()
    polarity = taxonomy()
    problems, test_items = [], {}
    files = sorted(glob.glob(os.path.join(HERE, "data/train/*.jsonl"))) + sorted(glob.glob(os.path.join(HERE, "data/test/*.jsonl")))
    count = 0
    for path in files:
        items, bad = read(path)
        problems += bad
        count += len(items)
        problems += [f"{os.path.relpath(path, HERE)}:{n}: {p}" for n, x in items for p in check_item(x, polarity)]
        if "/data/test/" in path:
            test_items[os.path.basename(path)] = [x for _, x in items if isinstance(x, dict)]
    audit, bad = read(os.path.join(HERE, "data/heldout_audit.jsonl"))
    problems += bad + check_audit(test_items, [r for _, r in audit])
    for p in problems:
        print(p)
    print(f"check_data: {count} items in {len(files)} files, {len(audit)} audit records: "
          f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
