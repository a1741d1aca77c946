#!/usr/bin/env python3
"""Training/inference parity: the Rust worker and the Python training side
must score text identically.

For every fixture text, `voc featurize` gives the features (normalization, PII
masking, jieba with the banking dictionary, hashing - the code the worker
runs) and Python's onnxruntime scores them with models/voc-text.onnx, as
models/train.py does when it evaluates. `voc classify` scores the same texts
end to end in Rust (batched, padded, through ort). Sentiment labels, sentiment
scores and tag sets must agree; probabilities within 1e-4.

Usage: python3 models/parity.py [--voc target/debug/voc] [--fixtures FILE.jsonl ...]
Exit status 1 on any disagreement.
"""
import argparse, glob, json, os, subprocess, sys
import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train import decide_tags  # the tag decisions train.py evaluates with (models/train.py)
LABELS = ["negative", "neutral", "positive"]


def run(voc, cmd, lines, *args):
    r = subprocess.run([voc, cmd, *args], input="".join(l + "\n" for l in lines).encode(), capture_output=True, check=True)
    out = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(out) == len(lines), f"{cmd}: {len(out)} outputs for {len(lines)} inputs"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voc", default=os.path.join(os.path.dirname(HERE), "target/debug/voc"))
    ap.add_argument("--fixtures", nargs="+", default=sorted(glob.glob(os.path.join(HERE, "data/test/*.jsonl"))),
                    help="JSONL files with a text field (default: every held-out file)")
    a = ap.parse_args()
    texts = []
    for path in a.fixtures:
        for l in open(path, encoding="utf-8"):
            if l.strip():
                t = json.loads(l)["text"].replace("\n", " ")
                # classify reads a line starting with "{" as channel JSON; keep fixtures plain text.
                if t.strip() and not t.lstrip().startswith("{"):
                    texts.append(t)
    meta = json.load(open(os.path.join(HERE, "voc-text.meta.json"), encoding="utf-8"))
    th = np.array(meta["thresholds"])
    feats = run(a.voc, "featurize", [json.dumps({"text": t}, ensure_ascii=False) for t in texts])
    rust = run(a.voc, "classify", texts, "--demo")  # fixture texts: the public pseudonym key is fine
    sess = ort.InferenceSession(os.path.join(HERE, "voc-text.onnx"), providers=["CPUExecutionProvider"])
    bad = 0
    max_diff = 0.0
    for i, (f, r) in enumerate(zip(feats, rust)):
        ids = np.array([f["features"]["ids"] or [0]], dtype=np.int64)
        w = np.array([f["features"]["weights"] or [0.0]], dtype=np.float32)
        s, t = sess.run(["sentiment", "tags"], {"ids": ids, "weights": w})
        s, t = s[0], t[0]
        label = LABELS[int(np.argmax(s))]
        score = float(s[2] - s[0])
        decided = decide_tags(t[None, :], th, meta.get("tag_fallback_threshold"), meta.get("tag_relative_threshold"))[0]
        tags = {meta["tag_ids"][j] for j in np.nonzero(decided)[0]}
        rust_tags = {x["id"] for x in r["tags"]}
        diff = abs(score - r["sentiment"]["score"])
        for x in r["tags"]:
            diff = max(diff, abs(float(t[meta["tag_ids"].index(x["id"])]) - x["score"]))
        max_diff = max(max_diff, diff)
        # Rust caps tags per item (inference.max_tags); compare within the cap.
        if label != r["sentiment"]["label"] or diff > 1e-4 or not rust_tags <= tags or (len(tags) <= 5 and tags != rust_tags):
            bad += 1
            if bad <= 5:
                print(f"MISMATCH {i}: {texts[i]!r}\n  python {label} {score:.5f} {sorted(tags)}\n  rust   {r['sentiment']['label']} {r['sentiment']['score']:.5f} {sorted(rust_tags)}", file=sys.stderr)
    print(f"parity: {len(texts)} fixtures, {bad} mismatches, max |diff| {max_diff:.2e}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
