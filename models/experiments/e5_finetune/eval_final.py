"""Final evaluation of the exported ONNX models: val (sanity vs JAX), then snow_test ONCE; 1-thread ORT speed."""
import time, json, random, numpy as np, onnxruntime as ort
from parse_bin import load
from common import *
MAX_LEN, HEAD = 96, 32
cfg, tokd, W, _ = load(BIN); del W
tok = Tok(tokd)
train, test = split()
idx = list(range(len(train))); random.Random(0).shuffle(idx)
val = [train[i] for i in idx[:len(train) // 10]]
keep = np.load('keep_ids.npy'); remap = np.full(250037, 3, np.int64); remap[keep] = np.arange(len(keep))
def encode(texts):
    out = []
    for s in tok.content(['passage: ' + t for t in texts]):
        m = MAX_LEN - 2
        if len(s) > m: s = s[:HEAD] + s[-(m - HEAD):]
        out.append([tok.bos] + s + [tok.eos])
    return out
def run(sess, seqs, bs=32):
    probs = np.zeros(len(seqs), np.float32)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for b in range(0, len(order), bs):
        bi = order[b:b + bs]; L = max(len(seqs[i]) for i in bi)
        ids, mask = pad_batch([seqs[i] for i in bi], L)
        probs[bi] = sess.run(None, {'input_ids': remap[ids], 'attention_mask': mask.astype(np.int64)})[0]
    return probs
def sess(f, threads):
    o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.inter_op_num_threads = 1
    return ort.InferenceSession(f, o, providers=['CPUExecutionProvider'])
res = {}
yv = np.array([x['sentiment'] == 'positive' for x in val]); yt = np.array([x['sentiment'] == 'positive' for x in test])
sv = encode([x['text'] for x in val]); st = encode([x['text'] for x in test])
jv = np.load('ckpt/best_val_probs.npy')
for name in ('fp32', 'int8'):
    s = sess(f'e5sent.{name}.onnx', 2)
    pv = run(s, sv)
    res[f'val_acc_{name}'] = float(((pv > .5) == yv).mean())
    res[f'val_maxabs_vs_jax_{name}'] = float(np.abs(pv - jv).max())
    res[f'val_decision_agree_vs_jax_{name}'] = float(((pv > .5) == (jv > .5)).mean())
    pt = run(s, st)
    res[f'TEST_acc_{name}'] = float(((pt > .5) == yt).mean())
    np.save(f'test_probs_{name}.npy', pt)
    print(name, json.dumps(res), flush=True)
# speed: 1 intra-op thread, batch 32, texts of 55-65 chars
pool_t = [x['text'] for x in train if 55 <= len(x['text']) <= 65][:320]
seqs = encode(pool_t)
res['speed_texts'] = len(pool_t); res['speed_mean_chars'] = float(np.mean([len(t) for t in pool_t])); res['speed_mean_tokens'] = float(np.mean([len(s) for s in seqs]))
t0 = time.time(); _ = encode(pool_t); res['py_tokenize_items_per_s'] = len(pool_t) / (time.time() - t0)
for name in ('fp32', 'int8'):
    s = sess(f'e5sent.{name}.onnx', 1)
    run(s, seqs[:64])
    best = 0
    for rep in range(3):
        t0 = time.time(); run(s, seqs); dt = time.time() - t0; best = max(best, len(seqs) / dt)
    res[f'ort_1thread_items_per_s_{name}'] = best
    print(name, 'items/s', best, flush=True)
json.dump(res, open('final_results.json', 'w'), indent=1)
print(json.dumps(res, indent=1))
