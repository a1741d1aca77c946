"""Calibration, detractor thresholds, the side-by-side baseline and per-channel
metrics for models/train.py.

- Temperature scaling: one T for the sentiment logits, fit by minimum negative
  log-likelihood on out-of-fold predictions of the banking training data; the
  exported graph divides its sentiment weights and bias by T (argmax unchanged,
  nothing changes on the Rust side).
- Detractor thresholds: an item without a 0-10 score is an inferred detractor
  when its label is negative and its score P(pos) - P(neg) is at or below the
  line; the lines are chosen on the same out-of-fold predictions.
- Baseline: TF-IDF character 1-3-grams + logistic regression (scikit-learn
  defaults, no tuning), trained on the same banking training items.
- Labels as first written: the held-out sentiments before the blind audit
  against LABELLING.md (data/heldout_audit.jsonl), scored next to the audited
  ones so that a change of the measuring stick is never mistaken for a change
  of the model.
"""
import json
import os

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

CHANNELS = ["app", "call_center", "community", "branch"]
LABELS = ["negative", "neutral", "positive"]
AUDIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "heldout_audit.jsonl")
T_GRID = np.exp(np.linspace(np.log(0.2), np.log(5.0), 161))
LINE_GRID = np.round(np.arange(-0.95, -0.049, 0.05), 2)
# Detractor line: the most permissive line whose precision (share of flagged
# items that are negative) is at least LINE_PRECISION, the bar a false detractor
# alert must stay under, with confidence: the one-sided 90 % Wilson lower bound of
# the precision measured on validation must reach it (a few hundred flagged items
# measure a precision to about +-0.007, so a line chosen on the point estimate
# misses the bar on new data about half the time). High severity: the same at
# HIGH_PRECISION.
LINE_PRECISION, HIGH_PRECISION = 0.97, 0.985
LINE_CONFIDENCE_Z = 1.2816
# Inquiry markers used only to *report* how inquiries fare (the model does not see this list).
ASK = ("请问", "想问", "问一下", "问下", "问问", "咨询", "请教", "求问", "想了解", "了解一下", "求助", "求科普",
       "怎么", "如何", "怎样", "哪里", "在哪", "哪个", "多少", "几天", "能否", "是否", "能不能", "可以吗", "吗", "呢", "?", "？")


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(z, y):
    """T minimizing the negative log-likelihood of softmax(z / T)."""
    nll = [-np.mean(np.log(softmax(z / t)[np.arange(len(y)), y] + 1e-12)) for t in T_GRID]
    return float(T_GRID[int(np.argmin(nll))])


def reliability(p, y, bins=10):
    """Top-label reliability: per confidence bin the count, mean confidence and
    accuracy; ECE = sum over bins of |accuracy - confidence| weighted by count."""
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.sum() == 0:
            continue
        acc, c = float(np.mean(pred[m] == y[m])), float(conf[m].mean())
        ece += m.sum() / len(y) * abs(acc - c)
        rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "items": int(m.sum()), "confidence": round(c, 3), "accuracy": round(acc, 3)})
    return rows, round(float(ece), 4)


def negative_ece(p, y, bins=10):
    """Calibration of P(negative) alone (the probability behind detractor alerts)."""
    q, t = p[:, 0], (y == 0)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (q > lo) & (q <= hi) if lo > 0 else (q >= lo) & (q <= hi)
        if m.sum():
            ece += m.sum() / len(y) * abs(float(t[m].mean()) - float(q[m].mean()))
    return round(float(ece), 4)


def detractors(p, line):
    return (p.argmax(1) == 0) & (p[:, 2] - p[:, 0] <= line)


def line_stats(p, y, line):
    d = detractors(p, line)
    neg = y == 0
    return {"precision": round(float(np.sum(d & neg) / max(d.sum(), 1)), 4),
            "recall_of_negatives": round(float(np.sum(d & neg) / max(neg.sum(), 1)), 4),
            "flagged": int(d.sum()), "non_negative_flagged": int(np.sum(d & ~neg))}


def line_stats_by_channel(p, y, items, line):
    """line_stats per channel: whether an alert can be trusted in each channel, not only overall."""
    ch = np.array([x.get("channel") for x in items])
    return {c: line_stats(p[ch == c], y[ch == c], line) for c in CHANNELS if (ch == c).any()}


def wilson_lower(hits, n, z=LINE_CONFIDENCE_Z):
    """One-sided Wilson score lower bound of a proportion hits / n (0 when n is 0)."""
    if n == 0:
        return 0.0
    q = hits / n
    centre = q + z * z / (2 * n)
    spread = z * np.sqrt(q * (1 - q) / n + z * z / (4 * n * n))
    return float((centre - spread) / (1 + z * z / n))


def choose_lines(p, y):
    """(detractor line, high-severity line) from validation probabilities: the most
    permissive lines whose precision's lower confidence bound reaches the bars."""
    def confident_precision(t):
        d = detractors(p, t)
        return wilson_lower(int(np.sum(d & (y == 0))), int(d.sum()))
    def most_permissive(min_precision):
        ok = [t for t in LINE_GRID if confident_precision(t) >= min_precision]
        return float(max(ok)) if ok else float(LINE_GRID[0])
    line = most_permissive(LINE_PRECISION)
    high = min(most_permissive(HIGH_PRECISION), line)
    return line, high


def is_inquiry(text):
    return any(a in text for a in ASK)


def inquiry_detractors(p, items, line):
    """Neutral-labelled items phrased as questions, and how many became inferred detractors."""
    idx = [i for i, x in enumerate(items) if x["sentiment"] == "neutral" and is_inquiry(x["text"])]
    d = detractors(p[idx], line) if idx else np.zeros(0, bool)
    return {"items": len(idx), "inferred_detractors": int(d.sum()),
            "examples": [items[idx[i]]["text"] for i in np.nonzero(d)[0][:5]]}


def as_first_written(items):
    """`items` with the sentiment their authors first wrote, before the held-out audit
    (data/heldout_audit.jsonl); an item the audit does not list keeps its label. A held-out
    label that differs from the audit's final label is an error (edit both together)."""
    with open(AUDIT, encoding="utf-8") as f:
        audit = {r["text"]: r for r in map(json.loads, f)}
    for x in items:
        r = audit.get(x["text"])
        if r is not None and r["sentiment"] != x["sentiment"]:
            raise ValueError(f"held-out label {x['sentiment']!r} differs from the audit's {r['sentiment']!r} "
                             f"({AUDIT}): {x['text'][:40]}")
    return [{**x, "sentiment": audit[x["text"]]["as_written"] if x["text"] in audit else x["sentiment"]} for x in items]


def first_written_report(items, p, line, base_pred=None):
    """The sentiment bars scored against the labels as first written: macro-F1 and
    accuracy per channel (and the baseline's), the detractor line, inquiries."""
    old = as_first_written(items)
    y = np.array([LABELS.index(x["sentiment"]) for x in old])
    out = {"items_relabelled_by_audit": sum(a["sentiment"] != b["sentiment"] for a, b in zip(items, old)),
           "by_channel": by_channel(old, y, p.argmax(1)),
           "detractor": dict(line=line, **line_stats(p, y, line)),
           "inquiries": {k: v for k, v in inquiry_detractors(p, old, line).items() if k != "examples"}}
    if base_pred is not None:
        out["baseline_by_channel"] = by_channel(old, y, base_pred)
    return out


def metrics(y_true, y_pred):
    return {"items": int(len(y_true)), "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", labels=[0, 1, 2], zero_division=0)), 4)}


def by_channel(items, y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {"all": metrics(y_true, y_pred)}
    for c in CHANNELS:
        m = np.array([x.get("channel") == c for x in items])
        if m.any():
            out[c] = metrics(y_true[m], y_pred[m])
    return out


def baseline(train_items, test_items, labels):
    """TF-IDF character 1-3-grams + logistic regression, scikit-learn defaults (C = 1;
    max_iter raised only so the solver converges)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    X = vec.fit_transform([x["text"] for x in train_items])
    y = [labels.index(x["sentiment"]) for x in train_items]
    m = LogisticRegression(max_iter=5000).fit(X, y)
    return m.predict(vec.transform([x["text"] for x in test_items]))


def markdown(rep):
    """Model card tables: shipped vs baseline per channel, calibration, thresholds."""
    s, b = rep["sentiment_by_channel"], rep["baseline"]["by_channel"]
    lines = ["Sentiment, shipped model vs the baseline (TF-IDF character 1-3-grams + logistic regression, "
             "scikit-learn defaults, trained on the same `data/train/` items):", "",
             "| channel | items | accuracy | baseline | gap | macro-F1 | baseline | gap |", "|---|---|---|---|---|---|---|---|"]
    for c in ["all"] + CHANNELS:
        if c in s:
            lines.append(f"| {c} | {s[c]['items']} | {s[c]['accuracy']:.3f} | {b[c]['accuracy']:.3f} | {s[c]['accuracy'] - b[c]['accuracy']:+.3f} "
                         f"| {s[c]['macro_f1']:.3f} | {b[c]['macro_f1']:.3f} | {s[c]['macro_f1'] - b[c]['macro_f1']:+.3f} |")
    cal = rep["calibration"]
    lines += ["", f"Calibration: temperature T = {cal['temperature']} fit on out-of-fold predictions of the training data "
              f"and folded into the exported weights. Held-out expected calibration error (top label, 10 bins): "
              f"**{cal['heldout_ece']}** (out-of-fold {cal['oof_ece']}; before scaling: held-out {cal['heldout_ece_uncalibrated']}); "
              f"of P(negative) alone: {cal['heldout_negative_ece']}.", "",
              "| confidence | held-out items | mean confidence | accuracy |", "|---|---|---|---|"]
    for r in cal["heldout_reliability"]:
        lines.append(f"| {r['bin']} | {r['items']} | {r['confidence']:.3f} | {r['accuracy']:.3f} |")
    d = rep["detractor"]
    lines += ["", "Inferred detractors (label negative and score at or below the line), lines chosen on out-of-fold predictions:", "",
              "| line | score | validation precision | validation recall | held-out precision | held-out recall | held-out non-negative flagged |",
              "|---|---|---|---|---|---|---|"]
    for name in ("detractor_at_or_below", "high_at_or_below_sentiment"):
        v, h = d[name]["validation"], d[name]["heldout"]
        lines.append(f"| `{name}` | {d[name]['line']} | {v['precision']:.3f} | {v['recall_of_negatives']:.3f} | {h['precision']:.3f} "
                     f"| {h['recall_of_negatives']:.3f} | {h['non_negative_flagged']} of {h['flagged']} |")
    if "by_channel" in d:
        v, h = d["by_channel"]["validation"], d["by_channel"]["heldout"]
        lines += ["", f"The same at `detractor_at_or_below` ({d['detractor_at_or_below']['line']}) per channel:", "",
                  "| channel | validation precision | validation recall | held-out precision | held-out recall | held-out non-negative flagged |",
                  "|---|---|---|---|---|---|"]
        for c in CHANNELS:
            if c in h:
                lines.append(f"| {c} | {v[c]['precision']:.3f} | {v[c]['recall_of_negatives']:.3f} | {h[c]['precision']:.3f} "
                             f"| {h[c]['recall_of_negatives']:.3f} | {h[c]['non_negative_flagged']} of {h[c]['flagged']} |")
    q = d["heldout_inquiries"]
    lines += ["", f"Held-out neutral items phrased as questions: {q['items']}, inferred detractors among them: **{q['inferred_detractors']}**"
              f" (out-of-fold on training data: {d['validation_inquiries']['inferred_detractors']} of {d['validation_inquiries']['items']})."]
    lines += ["", *first_written_markdown(rep["as_first_written"])]
    return lines


def first_written_markdown(fw):
    """One paragraph: the same bars against the held-out labels as first written."""
    s, d, q = fw["by_channel"], fw["detractor"], fw["inquiries"]
    per = ", ".join(f"{c} {s[c]['accuracy']:.3f}" for c in CHANNELS if c in s)
    base = ""
    if "baseline_by_channel" in fw:
        b = fw["baseline_by_channel"]
        base = (f" (baseline macro-F1 {b['all']['macro_f1']:.3f}; accuracy "
                + ", ".join(f"{c} {b[c]['accuracy']:.3f}" for c in CHANNELS if c in b) + ")")
    return [f"Against the held-out labels as first written, before the blind audit against the labelling guide "
            f"({fw['items_relabelled_by_audit']} items differ, `data/heldout_audit.jsonl`): macro-F1 {s['all']['macro_f1']:.3f}, "
            f"accuracy {per}{base}; detractors at {d['line']}: precision {d['precision']:.3f}, recall {d['recall_of_negatives']:.3f}; "
            f"inquiries flagged {q['inferred_detractors']} of {q['items']}."]
