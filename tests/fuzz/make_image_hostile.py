#!/usr/bin/env python3
"""Writes the hostile image of the fuzz_image corpus:
    /usr/bin/python3 tests/fuzz/make_image_hostile.py tests/fuzz/corpus/fuzz_image
writes hostile_scans.jpg (tests/test_image_hostile.c decodes it and checks
the error): a progressive grayscale JPEG of 1024x1024 pixels whose 501
scans code no coefficient (one EOB run over every block), 6 KB, and
scans_500.jpg, the same with 500 scans (the most that decode). libjpeg
decodes each scan with a pass over every block of the image, so the time
grows with scans x pixels while the file grows with scans only:
    make_image_hostile.py --demo W H SCANS > file.jpg
writes such a file of any size (8192 8192 20000: 2 MB, which took 197 s to
decode before al_image_read refused more than 500 scans). Python 3,
standard library only."""
import struct
import sys


def seg(marker, payload):
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def entropy_bytes(bits):
    """The bit string, padded with 1s, with a 0x00 stuffed after each 0xFF."""
    bits += "1" * (-len(bits) % 8)
    out = bytearray()
    for i in range(0, len(bits), 8):
        out.append(int(bits[i:i + 8], 2))
        if out[-1] == 0xFF:
            out.append(0)
    return bytes(out)


def progressive_gray(w, h, scans):
    out = b"\xFF\xD8"
    out += seg(0xDB, b"\x00" + b"\x01" * 64)                               # quantization table 0
    out += seg(0xC2, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")  # SOF2: progressive, 1 component
    # AC Huffman table 0: 0xE0 (an EOB run of 2^14 + 14 bits) is '0', 0x00 (EOB, a run of 1) is '10'
    out += seg(0xC4, b"\x10" + bytes([1, 1] + [0] * 14) + b"\xE0\x00")
    bits, left = "", ((w + 7) // 8) * ((h + 7) // 8)
    while left > 0:
        if left >= 1 << 14:
            run = min(left, 32767)
            bits += "0" + format(run - (1 << 14), "014b")
        else:
            run = 1
            bits += "10"
        left -= run
    # one AC scan (spectral band 1..63, no successive approximation), repeated;
    # no DC scan: libjpeg warns of the odd progression and decodes on
    scan = seg(0xDA, b"\x01\x01\x00" + bytes([1, 63, 0])) + entropy_bytes(bits)
    return out + scan * scans + b"\xFF\xD9"


def main(argv):
    if len(argv) == 5 and argv[1] == "--demo":
        sys.stdout.buffer.write(progressive_gray(int(argv[2]), int(argv[3]), int(argv[4])))
    elif len(argv) == 2:
        for name, scans in (("hostile_scans", 501), ("scans_500", 500)):
            with open("%s/%s.jpg" % (argv[1], name), "wb") as f:
                f.write(progressive_gray(1024, 1024, scans))
    else:
        sys.exit("usage: make_image_hostile.py tests/fuzz/corpus/fuzz_image | --demo W H SCANS")


if __name__ == "__main__":
    main(sys.argv)
