"""Per-channel int8 dynamic quantization variant; val accuracy (choice) then test."""
import sys, json, os, numpy as np
from onnxruntime.quantization import quantize_dynamic, QuantType
quantize_dynamic('e5sent.fp32.onnx', 'e5sent.int8pc.onnx', weight_type=QuantType.QInt8, per_channel=True)
import os; print('int8 per-channel size MB', os.path.getsize('e5sent.int8pc.onnx') / 1e6)
sys.argv = ['x']
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'eval_final.py')).read().split('res = {}')[0]
exec(src)
s = sess('e5sent.int8pc.onnx', 1)
yv = np.array([x['sentiment'] == 'positive' for x in val]); yt = np.array([x['sentiment'] == 'positive' for x in test])
pv = run(s, encode([x['text'] for x in val])); r = {'val_acc_int8pc': float(((pv > .5) == yv).mean())}
if len(sys.argv) and os.environ.get('TEST') == '1':
    pt = run(s, encode([x['text'] for x in test])); r['TEST_acc_int8pc'] = float(((pt > .5) == yt).mean())
print(json.dumps(r)); json.dump(r, open('quant_pc_results.json', 'w'))
