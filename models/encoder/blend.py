"""Blend weight and detractor lines, chosen on validation, written into models/voc-encoder.meta.json.

p_linear = models/train.py's OUT-OF-FOLD probabilities of the training items (--dump-oof; 5 folds, so the
validation items' linear probabilities come from models that did not see them); p_encoder = the exported
int8 graph (temperature already folded into its head). w in {0, 0.1, ..., 1} maximizing validation macro-F1
of (1 - w) p_linear + w p_encoder (ties: the smaller w). The average of two calibrated models is
under-confident, so one blend temperature T is then fit on the same validation items (minimum NLL of
p ** (1 / T), renormalized; argmax unchanged). Last, the detractor lines on those calibrated validation
probabilities with models/calibrate.py choose_lines (precision's 90 % lower confidence bound >= 0.97;
high line >= 0.985).

    python models/encoder/blend.py --oof models/encoder/work/linear/oof.npz
Writes work/blend.json, work/val_probs.npz and the meta's blend_weight / blend_temperature / detractor_lines /
model_version.
"""
import argparse, datetime, json, os, sys
import numpy as np
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path.insert(0, HERE)
REPO = os.path.abspath(os.path.join(HERE, '..', '..')); sys.path.insert(0, os.path.join(REPO, 'models'))
from sklearn.metrics import f1_score
import calibrate as cal
import data, vocab, ort_run
from tokenizer import Tokenizer

META = os.path.join(REPO, 'models', 'voc-encoder.meta.json')
W_GRID = [round(0.1 * i, 1) for i in range(11)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--oof', default=os.path.join(HERE, 'work', 'linear', 'oof.npz'))
    ap.add_argument('--onnx', default=os.path.join(REPO, 'models', 'voc-encoder.onnx'))
    ap.add_argument('--meta', default=META)
    a = ap.parse_args()
    items = data.prepared()
    fit_i, val_i = data.split(items)
    oof = np.load(a.oof)
    assert len(oof['text']) == len(items) and all(str(t) == x['text'] for t, x in zip(oof['text'], items)), \
        'out-of-fold dump is not aligned with the training items'
    y_all = np.array([data.LABELS.index(x['sentiment']) for x in items])
    assert (oof['y'] == y_all).all()
    vi = np.array(val_i); y = y_all[vi]
    p_lin = oof['p'][vi].astype(np.float64)
    tok = Tokenizer(a.meta)
    seqs = [tok.encode(items[i]['input']) for i in val_i]
    p_enc = ort_run.encoder_proba(ort_run.session(a.onnx), seqs, tok.pad).astype(np.float64)
    p_fp32 = ort_run.encoder_proba(ort_run.session(os.path.join(data.WORK, 'voc-encoder.fp32.onnx')), seqs, tok.pad)
    T = json.load(open(os.path.join(data.WORK, 'temperature.json')))['temperature']
    p_jax = cal.softmax(np.load(os.path.join(data.WORK, 'ckpt', 'best_val_logits.npy')).astype(np.float64) / T)
    mf1 = lambda p: round(float(f1_score(y, p.argmax(1), average='macro')), 4)
    acc = lambda p: round(float(np.mean(p.argmax(1) == y)), 4)
    rows = [{'w': w, 'val_macro_f1': mf1(p), 'val_accuracy': acc(p)}
            for w, p in ((w, ort_run.blend(p_lin, p_enc, w)) for w in W_GRID)]
    best = max(rows, key=lambda r: (r['val_macro_f1'], -r['w']))
    w = best['w']
    p_mix = ort_run.blend(p_lin, p_enc, w)
    t_blend = round(cal.fit_temperature(np.log(np.maximum(p_mix, 1e-30)), y), 4)
    p = ort_run.blend(p_lin, p_enc, w, t_blend)
    line, high = cal.choose_lines(p, y)
    val_items = [items[i] for i in val_i]
    rep = {
        'validation_items': len(vi),
        'temperature': T,
        'int8_vs_fp32': {'decisions_changed': int(np.sum(p_enc.argmax(1) != p_fp32.argmax(1))),
                         'max_abs_prob_diff': round(float(np.abs(p_enc - p_fp32).max()), 5),
                         'fp32_onnx_vs_jax_decisions_changed': int(np.sum(p_fp32.argmax(1) != p_jax.argmax(1))),
                         'fp32_onnx_vs_jax_max_abs_prob_diff': round(float(np.abs(p_fp32 - p_jax).max()), 5),
                         'val_macro_f1_int8': mf1(p_enc), 'val_macro_f1_fp32': mf1(p_fp32)},
        'linear_oof': {'val_macro_f1': mf1(p_lin), 'val_accuracy': acc(p_lin), 'ece': cal.reliability(p_lin, y)[1]},
        'encoder_int8': {'val_macro_f1': mf1(p_enc), 'val_accuracy': acc(p_enc), 'ece': cal.reliability(p_enc, y)[1],
                         'ece_before_temperature': cal.reliability(cal.softmax(np.log(np.maximum(p_enc, 1e-30)) * T), y)[1]},
        'blend_grid': rows,
        'blend_weight': w,
        'blend_temperature': t_blend,
        'blend_before_temperature': {'ece': cal.reliability(p_mix, y)[1], 'negative_ece': cal.negative_ece(p_mix, y)},
        'blend': {'val_macro_f1': mf1(p), 'val_accuracy': acc(p), 'ece': cal.reliability(p, y)[1],
                  'negative_ece': cal.negative_ece(p, y), 'reliability': cal.reliability(p, y)[0],
                  'by_channel': cal.by_channel(val_items, y, p.argmax(1))},
        'detractor_lines': {'detractor_at_or_below': line, 'high_at_or_below_sentiment': high},
        'detractor_validation': {'detractor_at_or_below': cal.line_stats(p, y, line),
                                 'high_at_or_below_sentiment': cal.line_stats(p, y, high),
                                 'inquiries': {k: v for k, v in cal.inquiry_detractors(p, val_items, line).items() if k != 'examples'}},
    }
    json.dump(rep, open(os.path.join(data.WORK, 'blend.json'), 'w'), indent=1)
    np.savez(os.path.join(data.WORK, 'val_probs.npz'), linear=p_lin, encoder=p_enc, blend=p, y=y, idx=vi)
    meta = json.load(open(a.meta, encoding='utf-8'))
    meta['model_version'] = 'voc-e5-' + datetime.date.today().strftime('%Y%m%d')
    meta['blend_weight'] = w
    meta['blend_temperature'] = t_blend
    meta['detractor_lines'] = {'detractor_at_or_below': line, 'high_at_or_below_sentiment': high}
    vocab.write_meta(meta, a.meta)
    print(json.dumps({k: v for k, v in rep.items() if k not in ('blend_grid',)}, indent=1)[:4000])
    print('grid', [(r['w'], r['val_macro_f1']) for r in rows])


if __name__ == '__main__':
    main()
