"""Weight-only int8: every MatMul weight [in, out] and the embedding table stored as int8 with symmetric
per-output-column (per-row for the table) float scales; the graph casts them back to float (ONNX Runtime folds
the Cast of a constant at load), so activations stay float32. Same inputs / outputs as the float graph."""
import numpy as np
import onnx
from onnx import helper as oh, numpy_helper as nh, TensorProto as TP


def _q(w, axis):
    s = np.abs(w).max(axis=axis, keepdims=True) / 127.0
    s[s == 0] = 1.0
    return np.clip(np.round(w / s), -127, 127).astype(np.int8), s.astype(np.float32)


def weight_only_int8(model):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes, drop = [], set()
    for n in g.node:
        if n.op_type == 'MatMul' and n.input[1] in inits and len(nh.to_array(inits[n.input[1]]).shape) == 2:
            w = nh.to_array(inits[n.input[1]]); name = n.input[1]
            q, s = _q(w, 0)                                  # scale per output column: [1, out]
            g.initializer.extend([nh.from_array(q, name + '_i8'), nh.from_array(s.reshape(-1), name + '_scale')])
            drop.add(name)
            new_nodes.append(oh.make_node('Cast', [name + '_i8'], [name + '_f'], to=TP.FLOAT, name=name + '_cast'))
            mm = n.output[0] + '_unscaled'
            new_nodes.append(oh.make_node('MatMul', [n.input[0], name + '_f'], [mm], name=n.name or mm))
            new_nodes.append(oh.make_node('Mul', [mm, name + '_scale'], [n.output[0]], name=n.output[0] + '_scale'))
        elif n.op_type == 'Gather' and n.input[0] == 'word':
            w = nh.to_array(inits['word'])
            q, s = _q(w, 1)                                  # scale per row: [V, 1]
            g.initializer.extend([nh.from_array(q, 'word_i8'), nh.from_array(s, 'word_scale')])
            drop.add('word')
            ids = n.input[1]
            new_nodes.append(oh.make_node('Gather', ['word_i8', ids], ['word_rows_i8'], axis=0, name='word_gather'))
            new_nodes.append(oh.make_node('Cast', ['word_rows_i8'], ['word_rows'], to=TP.FLOAT, name='word_cast'))
            new_nodes.append(oh.make_node('Gather', ['word_scale', ids], ['word_row_scale'], axis=0, name='word_scale_gather'))
            new_nodes.append(oh.make_node('Mul', ['word_rows', 'word_row_scale'], [n.output[0]], name='word_dequant'))
        else:
            new_nodes.append(n)
    keep = [t for t in g.initializer if t.name not in drop]
    del g.initializer[:]; g.initializer.extend(keep)
    del g.node[:]; g.node.extend(new_nodes)
    onnx.checker.check_model(model)
    return model
