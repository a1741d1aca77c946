"""Verify: python tokenizer ids == C engine ids; numpy fp32 forward vs C engine embeddings."""
import ctypes, numpy as np, time
from parse_bin import load
from common import *

cfg, tokd, W, _ = load(BIN)
np.save('cfg.npy', cfg)
tok = Tok(tokd)
lib = ctypes.CDLL('./libe5.so')
lib.e5_load.restype = ctypes.c_void_p; lib.e5_load.argtypes = [ctypes.c_char_p]
lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
m = lib.e5_load(BIN.encode())

def c_tok(text):
    b = text.encode('utf-8'); cap = len(b) + 4
    out = (ctypes.c_int * cap)(); n = lib.e5_tokenize(m, b, out, cap)
    return list(out[:n])
def c_emb(text):
    out = (ctypes.c_float * 384)(); lib.e5_embed(m, text.encode('utf-8'), 0, out)
    return np.array(out[:])

train, test = split()
texts = [x['text'] for x in train + test] + project_texts()
print('texts', len(texts))
t0 = time.time()
py = tok.content(['passage: ' + t for t in texts])
print('py tok time', time.time() - t0)
mism = 0; ex = []
for t, p in zip(texts, py):
    c = c_tok('passage: ' + t)
    if c != p:
        mism += 1
        if len(ex) < 5: ex.append((t, c[:30], p[:30]))
print('token mismatches', mism, 'of', len(texts)); [print(e) for e in ex]

def gelu(x):
    from scipy.special import erf
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))
def ln(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b
def fwd(ids):
    H = 384; L = len(ids)
    x = W['emb.word'][ids] + W['emb.pos'].reshape(-1, H)[:L] + W['emb.type'][:H]
    x = ln(x, W['emb.ln.w'], W['emb.ln.b'])
    for l in range(12):
        g = lambda n: W[f'l{l}.{n}']
        q = x @ g('q.w').T + g('q.b'); k = x @ g('k.w').T + g('k.b'); v = x @ g('v.w').T + g('v.b')
        q = q.reshape(L, 12, 32).transpose(1, 0, 2); k = k.reshape(L, 12, 32).transpose(1, 0, 2); v = v.reshape(L, 12, 32).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(32); s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        c = (s @ v).transpose(1, 0, 2).reshape(L, H)
        x = ln(x + c @ g('ao.w').T + g('ao.b'), g('aln.w'), g('aln.b'))
        h = gelu(x @ g('fi.w').T + g('fi.b'))
        x = ln(x + h @ g('fo.w').T + g('fo.b'), g('oln.w'), g('oln.b'))
    e = x.mean(0); return e / np.linalg.norm(e)

import random
rs = random.Random(0).sample(texts, 20)
cos = []
for t in rs:
    ids = tok.encode([t])[0]
    cos.append(float(fwd(np.array(ids)) @ c_emb(t)))
print('cosine py-fp32 vs C (20 sents): min %.5f mean %.5f' % (min(cos), np.mean(cos)))
