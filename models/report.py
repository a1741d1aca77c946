"""Evaluation report of the text model, shared by train.py: per-class and
per-category metrics, the worst tags with what they are confused with, and
the Markdown section of models/README.md between the eval markers."""
import collections
import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score

START, END = "<!-- eval:start (written by models/train.py) -->", "<!-- eval:end -->"


def per_category(Y, P, tag_ids):
    cats = sorted({t.split(".")[0] for t in tag_ids})
    out = {}
    for c in cats:
        cols = [j for j, t in enumerate(tag_ids) if t.startswith(c + ".")]
        yt = Y[:, cols].max(1)
        yp = P[:, cols].max(1)
        out[c] = {"support": int(yt.sum()),
                  "precision": round(float(precision_score(yt, yp, zero_division=0)), 3),
                  "recall": round(float(recall_score(yt, yp, zero_division=0)), 3),
                  "f1": round(float(f1_score(yt, yp, zero_division=0)), 3)}
    return out


def confusions(Y, P, tag_ids, worst=8):
    """For the worst tags by F1: what the model predicted instead when it missed
    them (false negatives), and which true tags its false positives had."""
    f1 = {}
    for j, t in enumerate(tag_ids):
        if Y[:, j].sum():
            f1[t] = f1_score(Y[:, j], P[:, j], zero_division=0)
    rows = []
    for t in sorted(f1, key=f1.get)[:worst]:
        j = tag_ids.index(t)
        missed = collections.Counter()
        for i in np.nonzero((Y[:, j] == 1) & (P[:, j] == 0))[0]:
            got = [tag_ids[k] for k in np.nonzero(P[i])[0]]
            missed.update(got or ["(no tag)"])
        spurious = collections.Counter()
        for i in np.nonzero((Y[:, j] == 0) & (P[:, j] == 1))[0]:
            true = [tag_ids[k] for k in np.nonzero(Y[i])[0]]
            spurious.update(true or ["(no tag)"])
        rows.append({"tag": t, "f1": round(float(f1[t]), 3), "support": int(Y[:, j].sum()),
                     "missed_as": missed.most_common(3), "false_alarms_on": spurious.most_common(3)})
    return rows


def markdown(report, taxonomy, sentiment_lines=()):
    names = {r["tag_id"]: r["tag_zh"] for r in taxonomy}
    cats = {r["category_id"]: r["category_zh"] for r in taxonomy}
    lines = [START, "", f"Model `{report['model_version']}`, held-out banking set ({report['heldout_items']} items).", "",
             f"Sentiment accuracy {report['sentiment_accuracy']:.3f}, macro-F1 {report['sentiment_macro_f1']:.3f}; "
             f"tags micro-F1 {report['tags_micro_f1']:.3f}, macro-F1 {report['tags_macro_f1']:.3f}; "
             f"category micro-F1 {report['category_micro_f1']:.3f}.", "", *sentiment_lines, "",
             "Per category (an item is in a category when any of its tags is):", "",
             "| category | | support | precision | recall | F1 |", "|---|---|---|---|---|---|"]
    for c, m in report["per_category"].items():
        lines.append(f"| {c} | {cats.get(c, '')} | {m['support']} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |")
    lines += ["", "Worst tags and their confusions (held-out):", "",
              "| tag | | F1 | support | missed, predicted instead | false alarms, true tags were |", "|---|---|---|---|---|---|"]
    fmt = lambda pairs: ", ".join(f"{t} ×{n}" for t, n in pairs) or "-"
    for r in report["worst_tags"]:
        lines.append(f"| {r['tag']} | {names.get(r['tag'], '')} | {r['f1']:.3f} | {r['support']} | {fmt(r['missed_as'])} | {fmt(r['false_alarms_on'])} |")
    lines += ["", END]
    return "\n".join(lines)


def write_readme(path, section):
    text = open(path, encoding="utf-8").read()
    if START in text and END in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip() + "\n\n## Evaluation\n\n" + section + "\n"
    open(path, "w", encoding="utf-8").write(text)
