"""The encoder's tokenizer, exactly as models/encoder/FORMAT.md fixes it (the Rust side implements the same):
whitespace runs -> one U+0020, strip, metaspace ('▁' prefix, spaces -> '▁'), unigram Viterbi over the pruned
vocabulary of models/voc-encoder.meta.json (f64 scores, strict '>' so the earliest start wins ties, an unknown
single character scores unk_score), consecutive <unk> fused, head+tail truncation, <s> ... </s>.

    python models/encoder/tokenizer.py "text"        # prints the ids (and pieces)
"""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
META = os.path.join(REPO, 'models', 'voc-encoder.meta.json')

# Unicode White_Space = Rust's char::is_whitespace. Python's str.isspace() agrees except that it also
# counts U+001C..U+001F as whitespace; the Rust definition is the one used here.
WHITESPACE = frozenset('\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009'
                       '\u200a\u2028\u2029\u202f\u205f\u3000')


def collapse(text):
    out, ws = [], False
    for c in text:
        if c in WHITESPACE:
            ws = True
        else:
            if ws and out:
                out.append(' ')
            ws = False
            out.append(c)
    return ''.join(out)


class Tokenizer:
    def __init__(self, meta=None):
        if meta is None or isinstance(meta, str):
            meta = json.load(open(meta or META, encoding='utf-8'))
        self.meta = meta
        self.max_len, self.head_tokens = meta['max_len'], meta['head_tokens']
        self.bos, self.pad, self.eos, self.unk = meta['bos_id'], meta['pad_id'], meta['eos_id'], meta['unk_id']
        self.unk_score = float(meta['unk_score'])
        specials = {self.bos, self.pad, self.eos, self.unk}
        self.pieces = [p for p, _ in meta['pieces']]
        self.vocab = {}
        for i, (p, sc) in enumerate(meta['pieces']):
            if i in specials:
                continue
            if p not in self.vocab:      # first id wins (the shipped vocabulary has no duplicates)
                self.vocab[p] = (i, float(sc))
        self.maxlen = max(len(p) for p in self.vocab)

    def content(self, text):
        """Content ids (no <s>/</s>, before truncation)."""
        t = collapse(text)
        if not t:
            return []
        s = '\u2581' + t.replace(' ', '\u2581')
        n = len(s)
        best = [None] * (n + 1); back = [None] * (n + 1)
        best[0] = 0.0
        vocab, unk, unk_score, M = self.vocab, self.unk, self.unk_score, self.maxlen
        for e in range(1, n + 1):
            be = None; bk = None
            for b in range(max(0, e - M), e):
                hit = vocab.get(s[b:e])
                if hit is not None:
                    cand = best[b] + hit[1]; pid = hit[0]
                elif b == e - 1:
                    cand = best[b] + unk_score; pid = unk
                else:
                    continue
                if be is None or cand > be:
                    be, bk = cand, (b, pid)
            best[e], back[e] = be, bk
        ids = []; e = n
        while e > 0:
            b, pid = back[e]; ids.append(pid); e = b
        ids.reverse()
        out = []
        for i in ids:
            if i == unk and out and out[-1] == unk:
                continue
            out.append(i)
        return out

    def encode(self, text):
        c = self.content(text)
        m = self.max_len - 2
        if len(c) > m:
            c = c[:self.head_tokens] + c[len(c) - (m - self.head_tokens):]
        return [self.bos] + c + [self.eos]

    def encode_batch(self, texts):
        return [self.encode(t) for t in texts]


if __name__ == '__main__':
    tok = Tokenizer()
    for t in sys.argv[1:]:
        ids = tok.encode(t)
        print(json.dumps(ids), ' '.join(tok.pieces[i] for i in ids))
