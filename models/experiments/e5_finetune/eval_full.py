"""Evaluate the full-fine-tune run's ONNX export: val (sanity vs JAX) and snow_test once."""
import json, os, numpy as np
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'eval_final.py')).read().split('res = {}')[0]
exec(src)
res = {}
yv = np.array([x['sentiment'] == 'positive' for x in val]); yt = np.array([x['sentiment'] == 'positive' for x in test])
sv = encode([x['text'] for x in val]); st = encode([x['text'] for x in test])
jv = np.load('ckpt_full/best_val_probs.npy')
for name in ('fp32', 'int8'):
    s = sess(f'e5full.{name}.onnx', 2)
    pv = run(s, sv); res[f'val_acc_{name}'] = float(((pv > .5) == yv).mean())
    res[f'val_decision_agree_vs_jax_{name}'] = float(((pv > .5) == (jv > .5)).mean())
    pt = run(s, st); res[f'TEST_acc_{name}'] = float(((pt > .5) == yt).mean())
print(json.dumps(res, indent=1)); json.dump(res, open('full_results.json', 'w'), indent=1)
