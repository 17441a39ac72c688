#!/usr/bin/python3
"""Golden values for tests/test_image.c: small JPEG and PNG files and what
decoding and preprocessing must give, computed independently of autlearn.

    /usr/bin/python3 scripts/gen_image_golden.py tests/golden/images

Decoding: PIL (Debian's python3-pil, itself on libjpeg-turbo and libpng)
opens each file, applies the EXIF orientation (ImageOps.exif_transpose) and
converts to L or RGB (alpha dropped); 16-bit PNGs are written here by hand
and their 8-bit values are round(v / 257), libpng's png_set_scale_16.
Preprocessing: PyTorch's F.interpolate(mode="bilinear", align_corners=False,
antialias=True) in float64 on the decoded pixels (gray from RGB as
0.299 R + 0.587 G + 0.114 B), the centered crop, then (v * scale - mean) / std.

expected.txt, one record per line (whitespace separated):
    decode FILE W H C v0 v1 ...            the H*W*C decoded bytes, interleaved
    prep FILE C H W RESIZE SCALE M0 M1 M2 S0 S1 S2 v0 v1 ...   C*H*W floats (CHW)
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/images"
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(15)


def smooth(h, w, c):
    """A smooth pattern plus noise: JPEG keeps it recognizable."""
    y, x = np.mgrid[0:h, 0:w]
    chans = []
    for k in range(c):
        v = 128 + 90 * np.sin(x / (2.0 + k) + y / (3.0 + k)) + rng.integers(-20, 21, (h, w))
        chans.append(np.clip(v, 0, 255))
    return np.stack(chans, -1).astype(np.uint8)


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png16(path, arr):
    """16-bit gray (H,W) or RGB (H,W,3) PNG, written by hand (PIL cannot write 16-bit RGB)."""
    h, w = arr.shape[:2]
    ct = 0 if arr.ndim == 2 else 2
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ct, 0, 0, 0))
    data += png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    open(path, "wb").write(data)


files = {}
rgb = smooth(9, 13, 3)
Image.fromarray(rgb).save(f"{out}/rgb.png")
Image.fromarray(smooth(9, 13, 1)[:, :, 0]).save(f"{out}/gray.png")
Image.fromarray(np.concatenate([rgb, smooth(9, 13, 1)], -1)).save(f"{out}/rgba.png")
pal = Image.fromarray(rgb).quantize(colors=16)
pal.info["transparency"] = 3
pal.save(f"{out}/palette.png", transparency=3)
Image.fromarray((smooth(5, 7, 1)[:, :, 0] > 128)).convert("1").save(f"{out}/bits1.png")
Image.fromarray(smooth(30, 40, 3)).save(f"{out}/big.png")
Image.fromarray(rgb).save(f"{out}/rgb.jpg", quality=90)
Image.fromarray(smooth(9, 13, 1)[:, :, 0]).save(f"{out}/gray.jpg", quality=90)
g16 = rng.integers(0, 65536, (5, 7)).astype(np.uint16)
write_png16(f"{out}/gray16.png", g16)
c16 = rng.integers(0, 65536, (5, 7, 3)).astype(np.uint16)
write_png16(f"{out}/rgb16.png", c16)
files["gray16.png"] = np.rint(g16 / 257.0).astype(np.uint8)[:, :, None]
files["rgb16.png"] = np.rint(c16 / 257.0).astype(np.uint8)
base = smooth(4, 6, 3)
for o in range(1, 9):
    ex = Image.Exif()
    ex[0x0112] = o
    Image.fromarray(base).save(f"{out}/orient{o}.jpg", quality=95, exif=ex.tobytes())
# big-endian EXIF (Motorola byte order), written by hand: orientation 6
tiff = b"MM\0\x2a\0\0\0\x08" + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + b"\0\0\0\0"
app1 = b"Exif\0\0" + tiff
buf = io.BytesIO()
Image.fromarray(base).save(buf, "JPEG", quality=95)
j = buf.getvalue()
open(f"{out}/orient6_mm.jpg", "wb").write(j[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + j[2:])


def decoded(name):
    if name in files:
        return files[name]
    im = ImageOps.exif_transpose(Image.open(f"{out}/{name}"))
    im = im.convert("L") if im.mode in ("L", "1", "I;16", "LA") else im.convert("RGB")
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


def prep(a, C, H, W, resize, scale, mean, std):
    x = a.astype(np.float64)
    if C == 1 and x.shape[2] == 3:
        x = (0.299 * x[:, :, 0] + 0.587 * x[:, :, 1] + 0.114 * x[:, :, 2])[:, :, None]
    elif C == 3 and x.shape[2] == 1:
        x = np.repeat(x, 3, 2)
    t = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
    h, w = a.shape[:2]
    if resize == "crop":
        s = max(H / h, W / w)
        rh, rw = max(H, int(np.floor(h * s + 0.5))), max(W, int(np.floor(w * s + 0.5)))
    else:
        rh, rw = H, W
    r = F.interpolate(t, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)[0]
    oy, ox = (rh - H) // 2, (rw - W) // 2
    r = r[:, oy:oy + H, ox:ox + W].numpy()
    m = np.array(mean[:C])[:, None, None]
    sd = np.array(std[:C])[:, None, None]
    return (r * scale - m) / sd


lines = []
names = ["rgb.png", "gray.png", "rgba.png", "palette.png", "bits1.png", "gray16.png", "rgb16.png", "rgb.jpg",
         "gray.jpg", "orient6_mm.jpg"] + [f"orient{o}.jpg" for o in range(1, 9)]
for n in names:
    a = decoded(n)
    h, w, c = a.shape
    lines.append(f"decode {n} {w} {h} {c} " + " ".join(str(int(v)) for v in a.reshape(-1)))
imnet = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
cases = [
    ("rgb.png", 3, 5, 7, "stretch", 1 / 255, *imnet),
    ("rgb.png", 3, 20, 30, "stretch", 1 / 255, *imnet),
    ("rgb.png", 1, 4, 4, "crop", 1 / 255, [0.5, 0, 0], [0.25, 1, 1]),
    ("gray.png", 3, 6, 6, "crop", 1.0, [0, 0, 0], [1, 1, 1]),
    ("big.png", 3, 8, 8, "stretch", 1 / 255, [0, 0, 0], [1, 1, 1]),
    ("big.png", 3, 7, 3, "crop", 1 / 255, [0, 0, 0], [1, 1, 1]),
    ("orient6.jpg", 3, 5, 5, "stretch", 1 / 255, [0, 0, 0], [1, 1, 1]),
]
for n, C, H, W, rs, sc, mean, std in cases:
    v = prep(decoded(n), C, H, W, rs, sc, mean, std)
    sc32 = float(np.float32(sc))
    hdr = f"prep {n} {C} {H} {W} {rs} {sc32!r} " + " ".join(repr(float(x)) for x in mean + std)
    lines.append(hdr + " " + " ".join(f"{x:.7g}" for x in v.reshape(-1)))
open(f"{out}/expected.txt", "w").write("\n".join(lines) + "\n")
print(f"gen_image_golden: {len(lines)} records in {out}/expected.txt")
