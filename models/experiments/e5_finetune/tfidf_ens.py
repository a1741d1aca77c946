"""TF-IDF char 1-3 + LR on the same train/val split; ensemble with fine-tuned e5 (weights chosen on val only)."""
import json, numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from common import splits
tr, val, test = splits()
y = lambda d: np.array([x['sentiment'] == 'positive' for x in d])
vec = TfidfVectorizer(analyzer='char', ngram_range=(1, 3), sublinear_tf=True, min_df=2)
Xtr = vec.fit_transform([x['text'] for x in tr]); Xv = vec.transform([x['text'] for x in val]); Xt = vec.transform([x['text'] for x in test])
res = {}; best = None
for C in (1, 3, 10, 30):
    lr = LogisticRegression(C=C, max_iter=3000).fit(Xtr, y(tr)); a = (lr.predict(Xv) == y(val)).mean()
    res[f'tfidf_val_acc_C{C}'] = float(a)
    if best is None or a > best[0]: best = (a, C, lr)
a, C, lr = best
pv_t = lr.predict_proba(Xv)[:, 1]; pt_t = lr.predict_proba(Xt)[:, 1]
pv_e = np.load('ckpt/best_val_probs.npy'); pt_e = np.load('e5sent_test_probs_fp32.npy')
accs = {w: float((((w * pv_e + (1 - w) * pv_t) > .5) == y(val)).mean()) for w in np.round(np.arange(0, 1.01, 0.1), 1)}
wb = max(accs, key=accs.get)
res.update(tfidf_C=C, ens_val_acc_by_w={str(k): v for k, v in accs.items()}, ens_w_e5=float(wb),
           TEST_tfidf_acc=float(((pt_t > .5) == y(test)).mean()),
           TEST_ensemble_acc=float((((wb * pt_e + (1 - wb) * pt_t) > .5) == y(test)).mean()))
json.dump(res, open('tfidf_ens_results.json', 'w'), indent=1); print(json.dumps(res, indent=1))
