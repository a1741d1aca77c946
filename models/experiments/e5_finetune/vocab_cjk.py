from parse_bin import load
from common import BIN
import numpy as np
cfg, tokd, W, _ = load(BIN)
def has_cjk(p): return any('\u4e00' <= c <= '\u9fff' or '\u3400' <= c <= '\u4dbf' for c in p)
def asciiish(p):
    t = p.replace('\u2581', ''); return len(t) <= 1 and all(c.isascii() for c in t)
cjk = [i for i, p in enumerate(tokd['pieces']) if has_cjk(p)]
small = [i for i, p in enumerate(tokd['pieces']) if asciiish(p) or all(('\u3000' <= c <= '\u303f') or ('\uff00' <= c <= '\uffef') for c in p.replace('\u2581', '') or 'x')]
keep = np.load('keep_ids.npy')
u = set(cjk) | set(small) | set(keep.tolist())
print('pieces containing CJK ideographs', len(cjk), '; + single ASCII/CJK punct/fullwidth pieces + seen ids ->', len(u), 'rows ->', round(len(u) * 388 / 1e6, 1), 'MB int8')
