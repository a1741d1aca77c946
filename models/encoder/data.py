"""Data for the encoder: every line of models/data/train/*.jsonl (files in sorted order, the order
models/train.py reads them; texts equal to a held-out text dropped), the model input text = the `text` field
printed by `voc featurize` (the enricher's normalized + PII-masked text), and the fit/validation split:
85 % / 15 %, stratified by sentiment, random.Random(0). The held-out files are read only by evaluate.py."""
import collections, json, os, random, subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
DATA = os.path.join(REPO, 'models', 'data')
WORK = os.environ.get('ENCODER_WORK', os.path.join(HERE, 'work'))
LABELS = ['negative', 'neutral', 'positive']


def default_voc():
    for p in (os.environ.get('VOC'), os.path.join(REPO, 'target', 'release', 'voc')):
        if p and os.path.exists(p):
            return p
    raise SystemExit('no voc binary: pass --voc or set VOC')


def read_jsonl(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(l) for l in f if l.strip()]


def read_dir(d):
    out = []
    for name in sorted(os.listdir(d)):
        if name.endswith('.jsonl'):
            out += read_jsonl(os.path.join(d, name))
    return out


def heldout_texts():
    return {x['text'] for x in read_dir(os.path.join(DATA, 'test'))}


def training_items():
    """The banking training items, in models/train.py's order (so its out-of-fold dump aligns row by row)."""
    drop = heldout_texts()
    return [x for x in read_dir(os.path.join(DATA, 'train')) if x['text'] not in drop]


def heldout_items():
    return read_dir(os.path.join(DATA, 'test'))


def voc_texts(voc, texts):
    """The `text` field of `voc featurize` for each input text."""
    inp = ''.join(json.dumps({'text': t}, ensure_ascii=False) + '\n' for t in texts)
    r = subprocess.run([voc, 'featurize'], input=inp.encode(), capture_output=True, check=True)
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(rows) == len(texts)
    return [x['text'] for x in rows]


def split(items, frac=0.15, seed=0):
    """(fit indices, validation indices): per sentiment, the first round(frac * n) of a seeded shuffle."""
    idx = list(range(len(items))); random.Random(seed).shuffle(idx)
    by = collections.defaultdict(list)
    for i in idx:
        by[items[i]['sentiment']].append(i)
    val = set()
    for lab in LABELS:
        val.update(by[lab][:round(frac * len(by[lab]))])
    return [i for i in idx if i not in val], sorted(val)


def prepared(voc=None, which='train'):
    """Items with 'input' = the voc-normalized text, cached in work/."""
    os.makedirs(WORK, exist_ok=True)
    items = training_items() if which == 'train' else heldout_items()
    cache = os.path.join(WORK, f'{which}_inputs.json')
    key = [x['text'] for x in items]
    if os.path.exists(cache):
        c = json.load(open(cache, encoding='utf-8'))
        if c['texts'] == key:
            for x, t in zip(items, c['inputs']):
                x['input'] = t
            return items
    inputs = voc_texts(voc or default_voc(), key)
    json.dump({'texts': key, 'inputs': inputs}, open(cache, 'w', encoding='utf-8'), ensure_ascii=False)
    for x, t in zip(items, inputs):
        x['input'] = t
    return items


if __name__ == '__main__':
    its = prepared()
    fit, val = split(its)
    print('training items', len(its), 'fit', len(fit), 'validation', len(val))
    for name, s in (('fit', fit), ('val', val)):
        print(name, collections.Counter(its[i]['sentiment'] for i in s), collections.Counter(its[i].get('channel') for i in s))
