"""Export the fine-tuned checkpoint as models/voc-encoder.onnx (contract: inputs input_ids / attention_mask
int64 [batch, seq], output `sentiment` float32 [batch, 3] = softmax(logits / T), masked mean pooling in the
graph, embedding rows of the pruned vocabulary only), written op by op with onnx.helper (opset 17), then
stored as int8 weights (wq.py: every MatMul weight per output column, the embedding table per row; ONNX Runtime
casts them back to float at load, activations stay float32). --dynamic: onnxruntime's dynamic quantization instead
(faster, but less accurate and batch-dependent; not shipped). T is fit on the validation logits
(models/calibrate.py fit_temperature) and folded into the head.

    python models/encoder/export.py [--ckpt work/ckpt/best.npz]
Writes work/voc-encoder.fp32.onnx, models/voc-encoder.onnx, work/temperature.json.
"""
import argparse, json, os, sys
import numpy as np
HERE = os.path.dirname(os.path.abspath(__file__)); sys.path.insert(0, HERE)
REPO = os.path.abspath(os.path.join(HERE, '..', '..')); sys.path.insert(0, os.path.join(REPO, 'models'))
import onnx
from onnx import helper as oh, TensorProto as TP, numpy_helper as nh
import data, vocab
import calibrate as cal
from model_jax import to_params

H, NH, HD = 384, 12, 32


def build_graph(P, word, head_w, head_b):
    inits, nodes = [], []
    def C(name, arr):
        inits.append(nh.from_array(np.asarray(arr), name)); return name
    def N(op, ins, outs=None, **kw):
        outs = outs or [f'{op}_{len(nodes)}']; nodes.append(oh.make_node(op, ins, outs, **kw)); return outs[0]
    C('word', word.astype(np.float32)); C('pos', P['pos'].astype(np.float32)); C('type0', P['type0'].astype(np.float32))
    C('eln_w', P['eln_w']); C('eln_b', P['eln_b'])
    C('shape_bl', np.array([0, 0, NH, HD], np.int64)); C('shape_bh', np.array([0, 0, H], np.int64))
    C('scale', np.array(1 / np.sqrt(HD), np.float32)); C('neg', np.array(-1e9, np.float32)); C('one', np.array(1.0, np.float32))
    C('half', np.array(0.5, np.float32)); C('isqrt2', np.array(1 / np.sqrt(2), np.float32))
    C('ax1', np.array([1], np.int64)); C('ax12', np.array([1, 2], np.int64)); C('zero1', np.array([0], np.int64))
    x = N('Gather', ['word', 'input_ids'], axis=0)
    shp = N('Shape', ['input_ids']); L = N('Gather', [shp, 'ax1'], axis=0)
    posr = N('Slice', ['pos', 'zero1', L, 'zero1'])
    x = N('Add', [N('Add', [x, posr]), 'type0'])
    x = N('LayerNormalization', [x, 'eln_w', 'eln_b'], axis=-1, epsilon=1e-12)
    maskf = N('Cast', ['attention_mask'], to=TP.FLOAT)
    bias = N('Unsqueeze', [N('Mul', [N('Sub', ['one', maskf]), 'neg']), 'ax12'])  # [B,1,1,L]
    for l, lp in enumerate(P['layers']):
        p = lambda n: C(f'l{l}.{n}', np.asarray(lp[n], np.float32))
        qkv = N('Add', [N('MatMul', [x, p('qkv_w')]), p('qkv_b')])
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
    logits = N('Add', [N('MatMul', [pooled, C('head_w', head_w.astype(np.float32))]), C('head_b', head_b.astype(np.float32))])
    N('Softmax', [logits], ['sentiment'], axis=-1)
    g = oh.make_graph(nodes, 'voc_encoder', [oh.make_tensor_value_info('input_ids', TP.INT64, ['batch', 'seq']),
                                              oh.make_tensor_value_info('attention_mask', TP.INT64, ['batch', 'seq'])],
                      [oh.make_tensor_value_info('sentiment', TP.FLOAT, ['batch', 3])], inits)
    model = oh.make_model(g, opset_imports=[oh.make_opsetid('', 17)], producer_name='voc models/encoder/export.py')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.join(data.WORK, 'ckpt', 'best.npz'))
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'voc-encoder.onnx'))
    ap.add_argument('--meta', default=os.path.join(REPO, 'models', 'voc-encoder.meta.json'))
    ap.add_argument('--dynamic', action='store_true',
                    help='not shipped: onnxruntime dynamic quantization (int8 activations) instead of weight-only int8')
    a = ap.parse_args()
    cfg, tokd, W = vocab.load_vocab()
    pieces, orig_ids = vocab.pruned(tokd)
    meta = json.load(open(a.meta, encoding='utf-8'))
    assert [p for p, _ in pieces] == [p for p, _ in meta['pieces']], 'meta pieces differ from the pruned vocabulary'
    P = to_params(W); del W
    ck = np.load(a.ckpt)
    for k in ck.files:
        if k.startswith('l'):
            l, name = k.split('.', 1); P['layers'][int(l[1:])][name] = ck[k]
    z_val = np.load(os.path.join(os.path.dirname(a.ckpt), 'best_val_logits.npy'))
    items = data.prepared()
    _, val_i = data.split(items)
    y_val = np.array([data.LABELS.index(items[i]['sentiment']) for i in val_i])
    T = cal.fit_temperature(z_val, y_val)
    p_val = cal.softmax(z_val / T)
    json.dump({'temperature': T, 'val_nll_before': float(-np.mean(np.log(cal.softmax(z_val)[np.arange(len(y_val)), y_val]))),
               'val_nll_after': float(-np.mean(np.log(p_val[np.arange(len(y_val)), y_val]))),
               'val_ece_before': cal.reliability(cal.softmax(z_val), y_val)[1], 'val_ece_after': cal.reliability(p_val, y_val)[1]},
              open(os.path.join(data.WORK, 'temperature.json'), 'w'), indent=1)
    print('temperature', T, 'validation ECE', cal.reliability(cal.softmax(z_val), y_val)[1], '->', cal.reliability(p_val, y_val)[1])
    word = P['word'][np.array(orig_ids)]
    model = build_graph(P, word, ck['head.w'] / T, ck['head.b'] / T)
    fp32 = os.path.join(data.WORK, 'voc-encoder.fp32.onnx')
    onnx.save(model, fp32)
    if a.dynamic:
        # Measured on validation (README.md): per-tensor scales change 88 of 1,269 decisions of the float graph
        # (macro-F1 0.906 -> 0.891), per-channel 35 (-> 0.897), and an item's probabilities depend on the other
        # rows of its batch (activations quantized per tensor): 27 decisions change between two batchings.
        from onnxruntime.quantization import quantize_dynamic, QuantType
        quantize_dynamic(fp32, a.out, weight_type=QuantType.QInt8, per_channel=True)
    else:
        # Shipped: int8 weights (per output column) and embedding rows (per row), float activations: 6 of
        # 1,269 validation decisions differ from the float graph, none depends on the batch; ~2x slower.
        import wq
        onnx.save(wq.weight_only_int8(model), a.out)
    ops = sorted({n.op_type for n in onnx.load(a.out).graph.node})
    for f in (fp32, a.out):
        print(f, round(os.path.getsize(f) / 1e6, 2), 'MB')
    print('int8 graph ops', ops)


if __name__ == '__main__':
    main()
