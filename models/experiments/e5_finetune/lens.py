import numpy as np
from parse_bin import load
from common import *
cfg, tokd, W, _ = load(BIN)
tok = Tok(tokd)
train, test = split()
print(len(train), len(test), sum(x['sentiment']=='positive' for x in train)/len(train))
ids = tok.encode([x['text'] for x in train])
L = np.array([len(x) for x in ids]); C = np.array([len(x['text']) for x in train])
print('tok len pct', np.percentile(L, [10, 25, 50, 75, 90, 95, 99]), 'mean', L.mean())
print('char len pct', np.percentile(C, [50, 90]), 'mean', C.mean())
for m in (64, 96, 128): print(m, 'truncated frac', (L > m).mean(), 'mean eff len', np.minimum(L, m).mean())
