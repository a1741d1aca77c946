import os

import jax, jax.numpy as jnp, numpy as np

H, NH, HD, NL = 384, 12, 32, 12

def to_params(W):
    p = {'word': W['emb.word'], 'pos': W['emb.pos'].reshape(-1, H), 'type0': W['emb.type'][:H],
         'eln_w': W['emb.ln.w'], 'eln_b': W['emb.ln.b'], 'layers': []}
    for l in range(NL):
        g = lambda n: W[f'l{l}.{n}']
        p['layers'].append({
            'qkv_w': np.concatenate([g('q.w'), g('k.w'), g('v.w')], 0).T.copy(),  # (H, 3H)
            'qkv_b': np.concatenate([g('q.b'), g('k.b'), g('v.b')]),
            'ao_w': g('ao.w').T.copy(), 'ao_b': g('ao.b'), 'aln_w': g('aln.w'), 'aln_b': g('aln.b'),
            'fi_w': g('fi.w').T.copy(), 'fi_b': g('fi.b'), 'fo_w': g('fo.w').T.copy(), 'fo_b': g('fo.b'),
            'oln_w': g('oln.w'), 'oln_b': g('oln.b')})
    return p

def ln(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * w + b

def embed(p, ids):
    B, L = ids.shape
    x = p['word'][ids] + p['pos'][:L][None] + p['type0']
    return ln(x, p['eln_w'], p['eln_b'])

def layer(lp, x, mask, drop_key=None, rate=0.0):
    B, L, _ = x.shape
    qkv = x @ lp['qkv_w'] + lp['qkv_b']
    q, k, v = jnp.split(qkv, 3, -1)
    q = q.reshape(B, L, NH, HD); k = k.reshape(B, L, NH, HD); v = v.reshape(B, L, NH, HD)
    s = jnp.einsum('bqhd,bkhd->bhqk', q, k) / np.sqrt(HD)
    s = s + (1.0 - mask)[:, None, None, :] * -1e9
    a = jax.nn.softmax(s, -1)
    c = jnp.einsum('bhqk,bkhd->bqhd', a, v).reshape(B, L, H)
    o = c @ lp['ao_w'] + lp['ao_b']
    if drop_key is not None and rate > 0:
        k1, k2 = jax.random.split(drop_key)
        o = o * jax.random.bernoulli(k1, 1 - rate, o.shape) / (1 - rate)
    x = ln(x + o, lp['aln_w'], lp['aln_b'])
    h = jax.nn.gelu(x @ lp['fi_w'] + lp['fi_b'], approximate=False)
    f = h @ lp['fo_w'] + lp['fo_b']
    if drop_key is not None and rate > 0:
        f = f * jax.random.bernoulli(k2, 1 - rate, f.shape) / (1 - rate)
    return ln(x + f, lp['oln_w'], lp['oln_b'])

def pool(x, mask):
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)

def logits_from_pooled(head, e):
    return e @ head['w'] + head['b']
