#!/usr/bin/env python3
# png_ink.py - counts the black pixels of a 1-bit greyscale PNG (a page
# preview), so a test can tell a blank page from one with text on it.
# usage: png_ink.py FILE   prints the count
import struct
import sys
import zlib


def main(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        sys.exit('%s: no PNG signature' % path)
    pos, idat, ihdr = 8, b'', None
    while pos + 8 <= len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 1 or color != 0 or interlace != 0:
        sys.exit('%s: not a 1-bit greyscale PNG' % path)
    raw = zlib.decompress(idat)
    stride = (width + 7) // 8
    prev, ink, pos = bytearray(stride), 0, 0
    for _ in range(height):
        kind, row = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = row[i - 1] if i > 0 else 0
            b, c = prev[i], prev[i - 1] if i > 0 else 0
            if kind == 1:
                row[i] = (row[i] + a) & 0xff
            elif kind == 2:
                row[i] = (row[i] + b) & 0xff
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 0xff
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        bits = width
        for i in range(stride):
            v = row[i] if bits >= 8 else row[i] | (0xff >> bits)
            ink += 8 - bin(v).count('1')
            bits -= 8
        prev = row
    print(ink)


if __name__ == '__main__':
    main(sys.argv[1])
