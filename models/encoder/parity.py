"""Rust/Python parity of the encoder.

1. Token ids: `voc featurize --encoder-meta models/voc-encoder.meta.json` prints "encoder_ids" per line; they
   must equal tokenizer.py's ids of the line's `text` field, on every training and held-out text.
2. Probabilities (when the voc binary can load the encoder): `voc classify` with enrich.encoder_path set
   (VOC_ENRICH__ENCODER_PATH) gives each item's sentiment label and score P(pos) - P(neg); compared with the
   Python blend (ort_run.blend: weight and temperature from the sidecar) computed with ONNX Runtime from the
   same two graphs. Texts that
   a plain-text stdin line cannot carry (a line break, a leading '{') are skipped and counted.

    python models/encoder/parity.py --voc target/release/voc [--ort-dylib /abs/libonnxruntime.so.X] [--skip-classify]
Exit status 1 on any id difference or label difference / score difference above --tol.
"""
import argparse, glob, json, os, subprocess, sys
import numpy as np
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path.insert(0, HERE)
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
import data, ort_run
from tokenizer import Tokenizer

M = os.path.join(REPO, 'models')
# Edge cases on top of the corpus (which has no text long enough to be truncated).
EXTRA = ['', '   ', '\t\n', '开户' * 200, '信用卡 ' * 120 + '完', 'a\u3000b\u00a0c\u2028d  e', '😤😤🐑🐑→→镚', 'ATM机吞卡了!!!??', '\x1c\x1f分隔',
         '..........。。。。！！！！', 'x' * 300, ' '.join(['APP闪退'] * 60), 'Ｆｕｌｌ ｗｉｄｔｈ ＡＢＣ １２３', '¥200元·×°']


def voc_encoder_ids(voc, meta, texts):
    inp = ''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in texts)
    r = subprocess.run([voc, 'featurize', '--encoder-meta', meta], input=inp.encode(), capture_output=True)
    if r.returncode != 0:
        sys.exit('voc featurize --encoder-meta failed: ' + r.stderr.decode()[-2000:])
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(rows) == len(texts)
    if 'encoder_ids' not in rows[0]:
        sys.exit('this voc binary prints no "encoder_ids" (keys: %s)' % sorted(rows[0]))
    return [(x['text'], x['encoder_ids']) for x in rows]


def ort_dylib(given):
    if given:
        return given
    if os.environ.get('ORT_DYLIB_PATH'):
        return os.environ['ORT_DYLIB_PATH']
    import onnxruntime
    libs = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so.*')))
    return libs[0] if libs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--voc', default=None)
    ap.add_argument('--meta', default=os.path.join(M, 'voc-encoder.meta.json'))
    ap.add_argument('--onnx', default=os.path.join(M, 'voc-encoder.onnx'))
    ap.add_argument('--ort-dylib', default=None)
    ap.add_argument('--tol', type=float, default=2e-3, help='largest accepted |score difference|')
    ap.add_argument('--skip-classify', action='store_true')
    a = ap.parse_args()
    voc = os.path.abspath(a.voc or data.default_voc())
    meta_path = os.path.abspath(a.meta)
    meta = json.load(open(meta_path, encoding='utf-8'))
    tok = Tokenizer(meta)
    texts = [x['text'] for x in data.training_items()] + [x['text'] for x in data.heldout_items()]
    ok = True

    # 1. token ids
    rows = voc_encoder_ids(voc, meta_path, texts + EXTRA)
    diff = [i for i, (t, ids) in enumerate(rows) if tok.encode(t) != ids]
    print(f'token ids: {len(rows)} texts ({len(data.training_items())} training + {len(data.heldout_items())} held-out), '
          f'+ {len(EXTRA)} edge cases, {len(diff)} differ; {sum(len(ids) for _, ids in rows)} tokens, '
          f'{sum(len(ids) == meta["max_len"] for _, ids in rows)} truncated to max_len')
    for i in diff[:5]:
        t, ids = rows[i]
        print('  differs: rust', ids[:40], 'python', tok.encode(t)[:40])
    ok &= not diff
    if a.skip_classify:
        sys.exit(0 if ok else 1)

    # 2. probabilities through `voc classify`
    usable = [t for t in texts if '\n' not in t and '\r' not in t and not t.lstrip().startswith('{') and t.strip()]
    env = dict(os.environ, VOC_ENRICH__ENCODER_PATH=os.path.abspath(a.onnx), VOC_ENRICH__ENCODER_META_PATH=meta_path)
    lib = ort_dylib(a.ort_dylib)
    if lib:
        env['ORT_DYLIB_PATH'] = lib
    r = subprocess.run([voc, 'classify', '--demo'], input=''.join(t + '\n' for t in usable).encode(), capture_output=True, env=env)
    if r.returncode != 0:
        print('voc classify with the encoder failed:', r.stderr.decode()[-1500:]); sys.exit(1)
    ev = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(ev) == len(usable)
    if not any(str(e.get('model_version', '')).find(meta['model_version']) >= 0 for e in ev[:1]):
        print('note: events carry model_version', ev[0].get('model_version'), '(the encoder version is', meta['model_version'] + ')')
    feats = ort_run.featurize(voc, usable)
    p_lin = ort_run.linear_proba(ort_run.session(os.path.join(M, 'voc-text.onnx')), feats).astype(np.float64)
    p_enc = ort_run.encoder_proba(ort_run.session(a.onnx), [tok.encode(f[0]) for f in feats], tok.pad).astype(np.float64)
    p = ort_run.blend(p_lin, p_enc, meta['blend_weight'], meta.get('blend_temperature', 1.0))
    labels = np.array(meta['sentiment_labels'])
    src = np.array([e['sentiment'].get('source') for e in ev])
    text_items = np.array([bool(f[1].size) for f in feats]) & (src == 'model')
    rust_label = np.array([e['sentiment']['label'] for e in ev]); rust_score = np.array([e['sentiment']['score'] for e in ev])
    py_label = labels[p.argmax(1)]; py_score = p[:, 2] - p[:, 0]
    m = text_items
    dl = int(np.sum(rust_label[m] != py_label[m])); ds = float(np.abs(rust_score[m] - py_score[m]).max())
    margin = np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2]
    near_tie = int(np.sum((rust_label != py_label) & m & (margin < 2 * a.tol)))
    print(f'classify: {len(usable)} texts ({len(texts) - len(usable)} skipped: line break / leading "{{" / blank), '
          f'{int(m.sum())} with text sentiment; label differences {dl} ({near_tie} of them near ties), '
          f'max |score difference| {ds:.2e}; sources {dict(zip(*np.unique(src, return_counts=True)))}')
    ok &= (dl - near_tie == 0) and ds <= a.tol
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
