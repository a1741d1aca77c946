"""Run models/voc-encoder.onnx (or the fast model models/voc-text.onnx) with ONNX Runtime, the way the Rust
side batches: items sorted by token count, batches of up to 32 rows, padded with pad_id / mask 0."""
import json, os, subprocess
import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))


def session(path, threads=None):
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])


def encoder_proba(sess, seqs, pad_id, bs=32):
    out = np.zeros((len(seqs), 3), np.float32)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for b in range(0, len(order), bs):
        bi = order[b:b + bs]; L = max(len(seqs[i]) for i in bi)
        ids = np.full((len(bi), L), pad_id, np.int64); mask = np.zeros((len(bi), L), np.int64)
        for j, i in enumerate(bi):
            ids[j, :len(seqs[i])] = seqs[i]; mask[j, :len(seqs[i])] = 1
        out[bi] = sess.run(['sentiment'], {'input_ids': ids, 'attention_mask': mask})[0]
    return out


def featurize(voc, texts):
    """`voc featurize` rows: (normalized text, feature ids, feature weights)."""
    inp = ''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in texts)
    r = subprocess.run([voc, 'featurize'], input=inp.encode(), capture_output=True, check=True)
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(rows) == len(texts)
    return [(x['text'], np.array(x['features']['ids'], np.int64), np.array(x['features']['weights'], np.float32)) for x in rows]


def linear_proba(sess, feats, bs=256):
    """The fast model's sentiment probabilities (as models/train.py run())."""
    outs = []
    for i in range(0, len(feats), bs):
        chunk = feats[i:i + bs]
        width = max(1, max(len(x[1]) for x in chunk))
        ids = np.zeros((len(chunk), width), np.int64); w = np.zeros((len(chunk), width), np.float32)
        for r, (_, a_ids, a_w) in enumerate(chunk):
            ids[r, :len(a_ids)] = a_ids; w[r, :len(a_w)] = a_w
        outs.append(sess.run(['sentiment'], {'ids': ids, 'weights': w})[0])
    return np.vstack(outs)


def blend(p_linear, p_encoder, w, temperature=1.0):
    """The enricher's blend (enrich/src/encoder/mod.rs `blend`): p = (1 - w) p_linear + w p_encoder, then
    calibrated by the blend temperature: p ** (1 / T), renormalized (T = 1 leaves p)."""
    p = (1 - w) * np.asarray(p_linear, np.float64) + w * np.asarray(p_encoder, np.float64)
    if temperature == 1.0:
        return p
    with np.errstate(divide='ignore'):
        z = np.log(p) / temperature
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)
