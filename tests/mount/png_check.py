#!/usr/bin/env python3
# png_check.py - a strict check of a PNG file for the mounted preview test
# (no pngcheck here): signature, chunk CRCs, IHDR first and IEND last, and
# the inflated image data has exactly one filtered row per image row.
# Prints "WIDTHxHEIGHT depth=D color=C".  usage: png_check.py FILE
import struct
import sys
import zlib

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def main(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        sys.exit('%s: no PNG signature' % path)
    pos, chunks = 8, []
    while pos < len(data):
        if pos + 12 > len(data):
            sys.exit('%s: truncated chunk at %d' % (path, pos))
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            sys.exit('%s: bad chunk %r' % (path, kind))
        chunks.append((kind, body))
        pos += 12 + length
    if chunks[0][0] != b'IHDR' or chunks[-1][0] != b'IEND':
        sys.exit('%s: IHDR must come first and IEND last' % path)
    width, height, depth, color, _, _, interlace = struct.unpack('>IIBBBBB', chunks[0][1])
    if interlace != 0 or color not in CHANNELS:
        sys.exit('%s: unexpected interlace %d / color type %d' % (path, interlace, color))
    pixels = zlib.decompress(b''.join(b for k, b in chunks if k == b'IDAT'))
    row = (width * depth * CHANNELS[color] + 7) // 8
    if len(pixels) != height * (row + 1):
        sys.exit('%s: %d bytes of image data, expected %d' % (path, len(pixels), height * (row + 1)))
    print('%dx%d depth=%d color=%d' % (width, height, depth, color))


main(sys.argv[1])
