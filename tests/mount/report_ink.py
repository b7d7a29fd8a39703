#!/usr/bin/env python3
# report_ink.py - counts the black pixels of a binary PBM (pdftoppm -mono)
# inside a box given in PDF points of the rendered page, so a test can tell
# whether a report's first-page thumbnail drew anything there.
# usage: report_ink.py FILE.pbm DPI X0 Y0 X1 Y1   (points from the top left)
import sys


def main(path, dpi, x0, y0, x1, y1):
    data = open(path, 'rb').read()
    fields, pos = [], 0
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b'#':
            pos = data.index(b'\n', pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    if fields[0] != b'P4':
        sys.exit('%s: not a binary PBM' % path)
    width, height = int(fields[1]), int(fields[2])
    stride = (width + 7) // 8
    k = dpi / 72.0
    ink = 0
    for y in range(max(0, int(y0 * k)), min(height, int(y1 * k))):
        row = data[pos + y * stride:pos + (y + 1) * stride]
        for x in range(max(0, int(x0 * k)), min(width, int(x1 * k))):
            if row[x // 8] & (0x80 >> (x % 8)):
                ink += 1
    print(ink)


if __name__ == '__main__':
    a = sys.argv
    if len(a) != 7:
        sys.exit('usage: report_ink.py FILE.pbm DPI X0 Y0 X1 Y1')
    main(a[1], float(a[2]), *(float(v) for v in a[3:]))
