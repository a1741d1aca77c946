"""Per-channel int8 dynamic quantization variant: validation accuracy (the choice),
then the test split with TEST=1."""
import json, os
from onnxruntime.quantization import quantize_dynamic, QuantType
from eval_final import Evaluator, positive, session

quantize_dynamic('e5sent.fp32.onnx', 'e5sent.int8pc.onnx', weight_type=QuantType.QInt8, per_channel=True)
print('int8 per-channel size MB', os.path.getsize('e5sent.int8pc.onnx') / 1e6)
ev = Evaluator()
s = session('e5sent.int8pc.onnx', 1)
pv = ev.run(s, ev.encode([x['text'] for x in ev.val]))
r = {'val_acc_int8pc': float(((pv > .5) == positive(ev.val)).mean())}
if os.environ.get('TEST') == '1':
    pt = ev.run(s, ev.encode([x['text'] for x in ev.test]))
    r['TEST_acc_int8pc'] = float(((pt > .5) == positive(ev.test)).mean())
print(json.dumps(r)); json.dump(r, open('quant_pc_results.json', 'w'))
