#!/usr/bin/env python3
"""Decodes a PNG (8-bit gray, RGB, gray+alpha or RGBA, not interlaced) with
the standard library only and prints JSON: width, height, the number of
distinct pixel values, and how many pixels lie within a small distance of
each colour given as #rrggbb.

usage: png_stats.py FILE.png [#rrggbb ...]
"""
import json
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or interlace or ctype not in (0, 2, 4, 6):
        raise ValueError("unsupported PNG: depth %d colour type %d interlace %d" % (depth, ctype, interlace))
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        elif f != 0:
            raise ValueError("bad filter %d in row %d" % (f, y))
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    w, h, bpp, rows = decode(sys.argv[1])
    counts = {}
    for r in rows:
        for x in range(0, len(r), bpp):
            px = r[x:x + bpp]
            counts[px] = counts.get(px, 0) + 1
    near = {}
    for col in sys.argv[2:]:
        t = tuple(int(col[i:i + 2], 16) for i in (1, 3, 5))
        k = 0
        for px, n in counts.items():
            rgb = (px[0], px[0], px[0]) if bpp < 3 else tuple(px[:3])
            if all(abs(a - b) <= 12 for a, b in zip(rgb, t)):
                k += n
        near[col] = k
    top = max(counts.values())
    print(json.dumps({"width": w, "height": h, "distinct": len(counts), "most_common_share": top / (w * h),
                      "near": near}))


if __name__ == "__main__":
    main()
