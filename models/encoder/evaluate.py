"""ONE scoring of the held-out files (models/data/test/*.jsonl): the fast model alone (models/voc-text.onnx on
`voc featurize` features), the encoder alone (models/voc-encoder.onnx) and the blend with the meta's weight:
accuracy, macro-F1, per channel, detractor precision / recall at the lines, held-out neutral questions flagged,
calibration (models/calibrate.py). Also the encoder's speed on 1 thread. Writes models/encoder/eval.json.
Prints metrics only, never held-out texts (the inquiry examples are left out of the report).

    python models/encoder/evaluate.py [--voc target/release/voc]
"""
import argparse, json, os, sys, time
import numpy as np
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path.insert(0, HERE)
REPO = os.path.abspath(os.path.join(HERE, '..', '..')); sys.path.insert(0, os.path.join(REPO, 'models'))
from sklearn.metrics import f1_score
import calibrate as cal
import data, ort_run
from tokenizer import Tokenizer

M = os.path.join(REPO, 'models')


def report(p, y, items, lines, fast_line=None):
    pred = p.argmax(1)
    rel, ece = cal.reliability(p, y)
    r = {'items': len(y), 'accuracy': round(float(np.mean(pred == y)), 4),
         'macro_f1': round(float(f1_score(y, pred, average='macro')), 4),
         'f1_per_class': {data.LABELS[i]: round(float(v), 4) for i, v in enumerate(f1_score(y, pred, average=None, labels=[0, 1, 2]))},
         'by_channel': cal.by_channel(items, y, pred),
         'ece': ece, 'negative_ece': cal.negative_ece(p, y), 'reliability': rel,
         'detractor': {name: dict(line=t, **cal.line_stats(p, y, t)) for name, t in lines.items()},
         'detractor_by_channel': cal.line_stats_by_channel(p, y, items, lines['detractor_at_or_below']),
         'heldout_inquiries': {k: v for k, v in cal.inquiry_detractors(p, items, lines['detractor_at_or_below']).items() if k != 'examples'},
         'as_first_written': cal.first_written_report(items, p, lines['detractor_at_or_below'])}
    return r


def speed(sess_path, tok, texts, reps=3):
    """Items/s on 1 thread (ORT intra_op 1), batch 32 sorted by length, tokenization included and alone."""
    sess = ort_run.session(sess_path, threads=1)
    t = time.time(); seqs = [tok.encode(x) for x in texts]; tok_s = time.time() - t
    ort_run.encoder_proba(sess, seqs[:64], tok.pad)
    best = min((lambda t0: (ort_run.encoder_proba(sess, seqs, tok.pad), time.time() - t0)[1])(time.time()) for _ in range(reps))
    return {'texts': len(texts), 'mean_chars': round(float(np.mean([len(x) for x in texts])), 1),
            'mean_tokens': round(float(np.mean([len(s) for s in seqs])), 1),
            'model_items_per_s': round(len(texts) / best, 1), 'python_tokenizer_items_per_s': round(len(texts) / tok_s, 1),
            'items_per_s_incl_python_tokenizer': round(len(texts) / (best + tok_s), 1), 'threads': 1, 'batch': 32}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--voc', default=None)
    ap.add_argument('--out', default=os.path.join(HERE, 'eval.json'))
    a = ap.parse_args()
    voc = a.voc or data.default_voc()
    meta = json.load(open(os.path.join(M, 'voc-encoder.meta.json'), encoding='utf-8'))
    fast_meta = json.load(open(os.path.join(M, 'voc-text.meta.json'), encoding='utf-8'))
    tok = Tokenizer(meta)
    test = data.heldout_items()
    y = np.array([data.LABELS.index(x['sentiment']) for x in test])
    feats = ort_run.featurize(voc, [x['text'] for x in test])
    p_lin = ort_run.linear_proba(ort_run.session(os.path.join(M, 'voc-text.onnx')), feats).astype(np.float64)
    p_enc = ort_run.encoder_proba(ort_run.session(os.path.join(M, 'voc-encoder.onnx')), [tok.encode(f[0]) for f in feats], tok.pad).astype(np.float64)
    w = meta['blend_weight']
    p = ort_run.blend(p_lin, p_enc, w, meta.get('blend_temperature', 1.0))
    enc_lines, fast_lines = meta['detractor_lines'], fast_meta['detractor_lines']
    blend_json = json.load(open(os.path.join(data.WORK, 'blend.json')))
    train_log = json.load(open(os.path.join(data.WORK, 'ckpt', 'log.json')))
    items = data.prepared(voc)
    fit_i, _ = data.split(items)
    speed_texts = [items[i]['input'] for i in fit_i[:1000]]
    out = {
        'model_version': meta['model_version'],
        'heldout_items': len(test),
        'blend_weight': w,
        'blend_temperature': meta.get('blend_temperature', 1.0),
        'detractor_lines': enc_lines,
        'fast_model': {'model_version': fast_meta['model_version'], **report(p_lin, y, test, fast_lines)},
        'fast_model_at_encoder_lines': {n: dict(line=t, **cal.line_stats(p_lin, y, t)) for n, t in enc_lines.items()},
        'encoder': report(p_enc, y, test, enc_lines),
        'blend': report(p, y, test, enc_lines),
        'validation': {k: blend_json[k] for k in ('validation_items', 'temperature', 'int8_vs_fp32', 'linear_oof', 'encoder_int8', 'blend_grid', 'blend_temperature', 'blend_before_temperature', 'blend')},
        'validation_detractor': blend_json['detractor_validation'],
        'training': {k: train_log[k] for k in ('fit', 'val', 'best_val_macro_f1', 'stopped_by_cap', 'train_wall_s', 'log')},
        'speed_1_thread': speed(os.path.join(M, 'voc-encoder.onnx'), tok, speed_texts),
        'sizes_mb': {f: round(os.path.getsize(os.path.join(M, f)) / 1e6, 2) for f in ('voc-encoder.onnx', 'voc-encoder.meta.json', 'voc-text.onnx')},
    }
    json.dump(out, open(a.out, 'w'), ensure_ascii=False, indent=1)
    for k in ('fast_model', 'encoder', 'blend'):
        r = out[k]
        print(k, 'acc', r['accuracy'], 'macro-F1', r['macro_f1'], 'ECE', r['ece'],
              {c: v['accuracy'] for c, v in r['by_channel'].items()}, r['detractor'], r['heldout_inquiries'])
    print('speed', out['speed_1_thread'], 'sizes', out['sizes_mb'])


if __name__ == '__main__':
    main()
