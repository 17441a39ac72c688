#!/usr/bin/env python3
"""Writes the hostile model files and checkpoints of the fuzz corpora:
    tests/fuzz/corpus/fuzz_gguf/hostile_*.gguf        (tests/test_model_hostile.c loads each)
    tests/fuzz/corpus/fuzz_checkpoint/hostile_*.ckpt  (tests/test_checkpoint_hostile.c resumes each)
    /usr/bin/python3 tests/fuzz/make_gguf_hostile.py tests/fuzz/corpus
Each is a well-formed GGUF file (valid CRCs: the loader's checks behind them
are what is tested) whose numbers drove the library into integer overflow
or a nonsense shape before it checked them. The checkpoints are the seed
tests/fuzz/corpus/fuzz_checkpoint/ckpt0 (fuzz_ckpt_setup's trainer, so the
fingerprints match) with one value changed. Python 3, standard library only."""
import struct
import sys
import zlib

# GGUF value types (src/model/model.h, gguf_type)
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
PACK = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B",
        U64: "<Q", I64: "<q", F64: "<d"}
GGML_F32 = 0
GGML_SIZE = {0: 4, 1: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8}
CRC_HDR, CRC_DATA, ALIGN_KEY = "autlearn.crc32", "autlearn.crc32_data", "general.alignment"


def gstr(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<Q", len(b)) + b


class Gguf:
    """Key/value metadata (each value as its serialized bytes) and tensors."""

    def __init__(self, alignment=32):
        self.alignment = alignment
        self.kv = []  # [key, type, value bytes]
        self.t = []   # [name, ne (fastest first), ggml type, data bytes]

    def _set(self, key, typ, payload):
        for e in self.kv:
            if e[0] == key:
                e[1], e[2] = typ, payload
                return
        self.kv.append([key, typ, payload])

    def num(self, key, typ, v):
        self._set(key, typ, struct.pack(PACK[typ], v))

    def str(self, key, s):
        self._set(key, STR, gstr(s))

    def arr(self, key, et, vals):
        self._set(key, ARR, struct.pack("<IQ", et, len(vals)) + b"".join(struct.pack(PACK[et], v) for v in vals))

    def tensor(self, name, ne, typ, data):
        self.t.append([name, list(ne), typ, bytes(data)])

    def get(self, key):
        for k, typ, payload in self.kv:
            if k == key:
                return struct.unpack(PACK[typ], payload)[0] if typ in PACK else payload
        raise KeyError(key)

    def bytes(self):
        a = self.alignment
        kvs = [e for e in self.kv if e[0] not in (CRC_HDR, CRC_DATA, ALIGN_KEY)]
        # the CRCs first, as gguf_writer writes them (placeholders, patched below)
        kvs = [[CRC_HDR, U32, b"\0" * 4], [CRC_DATA, U32, b"\0" * 4],
               [ALIGN_KEY, U32, struct.pack("<I", a)]] + kvs
        head = struct.pack("<4sIQQ", b"GGUF", 3, len(self.t), len(kvs))
        crc_at = {}
        for key, typ, payload in kvs:
            head += gstr(key) + struct.pack("<I", typ)
            crc_at[key] = len(head)
            head += payload
        data, off = b"", 0
        for name, ne, typ, d in self.t:
            head += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
            head += struct.pack("<IQ", typ, off)
            data += d + b"\0" * (-len(d) % a)
            off = len(data)
        head += b"\0" * (-len(head) % a)
        head = bytearray(head)
        head[crc_at[CRC_DATA]:crc_at[CRC_DATA] + 4] = struct.pack("<I", zlib.crc32(data))
        # the header CRC is taken with its own value bytes still zero
        head[crc_at[CRC_HDR]:crc_at[CRC_HDR] + 4] = struct.pack("<I", zlib.crc32(bytes(head)))
        return bytes(head) + data

    @staticmethod
    def parse(b):
        g = Gguf()
        magic, ver, nt, nkv = struct.unpack_from("<4sIQQ", b, 0)
        assert magic == b"GGUF" and ver == 3
        o = 24

        def rstr(o):
            n = struct.unpack_from("<Q", b, o)[0]
            return b[o + 8:o + 8 + n].decode(), o + 8 + n

        for _ in range(nkv):
            key, o = rstr(o)
            typ = struct.unpack_from("<I", b, o)[0]
            o += 4
            start = o
            if typ == STR:
                o += 8 + struct.unpack_from("<Q", b, o)[0]
            elif typ == ARR:
                et, n = struct.unpack_from("<IQ", b, o)
                o += 12
                if et == STR:
                    for _ in range(n):
                        o += 8 + struct.unpack_from("<Q", b, o)[0]
                else:
                    o += n * struct.calcsize(PACK[et])
            else:
                o += struct.calcsize(PACK[typ])
            if key == ALIGN_KEY:
                g.alignment = struct.unpack_from("<I", b, start)[0]
            g.kv.append([key, typ, b[start:o]])
        infos = []
        for _ in range(nt):
            name, o = rstr(o)
            nd = struct.unpack_from("<I", b, o)[0]
            ne = list(struct.unpack_from("<%dQ" % nd, b, o + 4))
            typ, off = struct.unpack_from("<IQ", b, o + 4 + 8 * nd)
            o += 4 + 8 * nd + 12
            infos.append((name, ne, typ, off))
        o += -o % g.alignment
        for name, ne, typ, off in infos:
            n = GGML_SIZE[typ]
            for x in ne:
                n *= x
            g.tensor(name, ne, typ, b[o + off:o + off + n])
        return g


# ---- model files ----------------------------------------------------------------

def model(shape, layers, version=1, tensors=()):
    """A model file: input `shape`, layers as dicts of their keys (type and
    the options beyond the twelve every layer has)."""
    g = Gguf()
    g.str("general.architecture", "autlearn")
    g.num("autlearn.format_version", U32, version)
    g.str("autlearn.spec", "hostile")
    g.num("autlearn.input.tokens", BOOL, 0)
    g.arr("autlearn.input.shape", I32, shape)
    g.num("autlearn.layer_count", U32, len(layers))
    g.num("autlearn.first_trainable", U32, 0)
    for i, lay in enumerate(layers):
        p = "autlearn.layer.%d." % i
        g.str(p + "type", lay["type"])
        for k in ("units", "k", "stride", "pad", "vocab", "src"):
            g.num(p + k, I32, lay.get(k, 0))
        g.num(p + "bias", BOOL, lay.get("bias", 0))
        for k in ("rate", "eps", "momentum"):
            g.num(p + k, F32, lay.get(k, 0.0))
        g.num(p + "trainable", BOOL, 1)
        for k, v in lay.items():
            if k in ("type", "units", "k", "stride", "pad", "vocab", "src", "bias", "rate", "eps", "momentum"):
                continue
            if isinstance(v, list):
                g.arr(p + k, I32, v)
            else:
                g.num(p + k, I32, v)
    for name, ne, vals in tensors:
        g.tensor(name, ne, GGML_F32, struct.pack("<%df" % len(vals), *vals))
    return g


def main(corpus):
    out = corpus + "/fuzz_gguf"

    def save(name, g):
        with open("%s/hostile_%s.gguf" % (out, name), "wb") as f:
            f.write(g.bytes())

    # A reshape to 6700417 x 16711935 x 164737 x -1 of a 1-value input: the
    # product of the sizes, 1 mod 2^64 with the -1 taken as 2^64 - 1 (the
    # three are the factors of 2^64 - 1), passed the element-count check and
    # the model was built with a -1 dimension, and a concat of it along
    # axis 1 copied blocks of 2^64 - 2753074036095 floats (a crash on the
    # first forward). The first size was past the input's count, so the loop
    # that checks each size stopped before the -1.
    save("reshape_wrap", model([1], [
        {"type": "reshape", "dims": [6700417, 16711935, 164737, -1]},
        {"type": "concat", "src": 0, "axis": 1},
    ]))

    # A concat of 65 operands of 2^26 values each (the flattened input, 64
    # times more): the sizes along the axis were added in an int, which
    # wrapped to 2^26 (UBSan: signed integer overflow in concat_shape); the
    # model was built with an output of 2^26 values, and the forward wrote
    # 65 x 2^26 into it (a crash in cc_fwd_range).
    save("concat_sum", model([4, 4096, 4096], [
        {"type": "flatten"},
        {"type": "concat", "src": 0, "more": [0] * 63, "axis": 0},
    ], version=4))

    # 2^26 outputs (an expand: no weights) and 1000 class names: matching a
    # folder's class names to the model's walked the list from its first
    # line for every output, O(outputs x names): one name took about 7
    # minutes (al_model_match_classes; the CLI's list of the model's names
    # walked it the same way).
    g = model([1], [{"type": "expand", "dims": [4, 1 << 24]}])
    g.str("autlearn.classes", "\n".join("c%d" % i for i in range(1000)))
    save("classes_many", g)

    # ---- checkpoints: the seed with one value changed --------------------------
    with open(corpus + "/fuzz_checkpoint/ckpt0", "rb") as f:
        seed = f.read()
    cout = corpus + "/fuzz_checkpoint"

    def ckpt(name, key, typ, v):
        g = Gguf.parse(seed)
        g.get(key)  # the key must be there
        g.num(key, typ, v)
        with open("%s/hostile_%s.ckpt" % (cout, name), "wb") as f:
            f.write(g.bytes())

    # counters at 2^63 - 1: the next training step added one to each
    for key in ("steps_done", "epochs_done", "runs_done", "opt_t", "run.gstep", "run.counted", "run.correct",
                "run.iv_count", "rep.steps", "rep.samples"):
        ckpt(key.replace(".", "_") + "_max", "autlearn.ckpt." + key, I64, 2**63 - 1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_gguf_hostile.py tests/fuzz/corpus")
    main(sys.argv[1])
