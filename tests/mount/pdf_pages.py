#!/usr/bin/env python3
"""pdf_pages.py PDF TIFF... - checks that PDF has one page per TIFF (each a
single fax page), of the page's size in points, and that poppler's
pdftoppm, rendering each page at its TIFF's own resolution, shows the TIFF's
pixels. The TIFF is decoded by libtiff (tiffcp -c none, then read here as a
plain bitmap), so neither side is decoded by code of the program under
test. Prints one line per page; exits 1 on the first mismatch."""
import os
import re
import struct
import subprocess
import sys
import tempfile

MAX_DIFF_RATIO = 0.001  # exact is expected; allows for a renderer's rounding


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def read_tiff_bitmap(path, tmp):
    """(width, height, xdpi, ydpi, rows of bytes with 1 = black)."""
    raw = os.path.join(tmp, "raw.tif")
    subprocess.run(["tiffcp", "-c", "none", "-f", "msb2lsb", path, raw], check=True)
    data = open(raw, "rb").read()
    e = {b"II": "<", b"MM": ">"}[data[:2]]
    (ifd,) = struct.unpack(e + "I", data[4:8])
    (n,) = struct.unpack(e + "H", data[ifd:ifd + 2])
    tags = {}
    sizes = {1: 1, 3: 2, 4: 4, 5: 8}
    for i in range(n):
        tag, typ, count, value = struct.unpack(e + "HHII", data[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
        size = sizes.get(typ, 1) * count
        off = ifd + 2 + 12 * i + 8 if size <= 4 else value
        if typ == 3:
            vals = struct.unpack(e + "%dH" % count, data[off:off + 2 * count])
        elif typ == 4:
            vals = struct.unpack(e + "%dI" % count, data[off:off + 4 * count])
        elif typ == 5:
            nums = struct.unpack(e + "%dI" % (2 * count), data[off:off + 8 * count])
            vals = tuple(nums[k] / nums[k + 1] for k in range(0, len(nums), 2))
        else:
            vals = (value,)
        tags[tag] = vals
    width, height = tags[256][0], tags[257][0]
    photometric = tags.get(262, (0,))[0]
    unit = tags.get(296, (2,))[0]
    scale = 2.54 if unit == 3 else 1.0
    xdpi = tags[282][0] * scale if 282 in tags else 204.0
    ydpi = tags[283][0] * scale if 283 in tags else 196.0
    bits = b"".join(data[o:o + c] for o, c in zip(tags[273], tags[279]))
    stride = (width + 7) // 8
    if len(bits) < stride * height:
        fail("%s: %d bytes of pixels, wanted %d" % (path, len(bits), stride * height))
    rows = [bits[y * stride:(y + 1) * stride] for y in range(height)]
    if photometric == 1:  # MinIsBlack: 0 is black
        rows = [bytes(b ^ 0xFF for b in r) for r in rows]
    return width, height, xdpi, ydpi, rows


def read_pbm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 3:
        m = re.compile(rb"\s*(#[^\n]*\n\s*)*(\S+)").match(data, pos)
        fields.append(m.group(2))
        pos = m.end()
    if fields[0] != b"P4":
        fail("%s is not a binary PBM" % path)
    w, h = int(fields[1]), int(fields[2])
    pos += 1
    stride = (w + 7) // 8
    return w, h, [data[pos + y * stride:pos + (y + 1) * stride] for y in range(h)]


def popcount_diff(a, b, width):
    diff = 0
    full = width // 8
    for i in range(full):
        diff += bin(a[i] ^ b[i]).count("1")
    rest = width % 8
    if rest:
        mask = (0xFF << (8 - rest)) & 0xFF
        diff += bin((a[full] ^ b[full]) & mask).count("1")
    return diff


def page_sizes(pdf, n):
    out = subprocess.run(["pdfinfo", "-f", "1", "-l", str(n), pdf], check=True, capture_output=True,
                         text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)$", out, re.M).group(1))
    sizes = [(float(w), float(h)) for w, h in
             re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", out, re.M)]
    return pages, sizes


def main():
    if len(sys.argv) < 3:
        fail("usage: pdf_pages.py PDF TIFF...")
    pdf, tiffs = sys.argv[1], sys.argv[2:]
    pages, sizes = page_sizes(pdf, len(tiffs))
    if pages != len(tiffs):
        fail("%s has %d pages, wanted %d" % (pdf, pages, len(tiffs)))
    with tempfile.TemporaryDirectory() as tmp:
        for i, tiff in enumerate(tiffs, 1):
            w, h, xdpi, ydpi, rows = read_tiff_bitmap(tiff, tmp)
            want = (w * 72.0 / xdpi, h * 72.0 / ydpi)
            got = sizes[i - 1]
            if abs(got[0] - want[0]) > 0.05 or abs(got[1] - want[1]) > 0.05:
                fail("page %d is %.2f x %.2f pt, wanted %.2f x %.2f" % (i, got[0], got[1], want[0], want[1]))
            prefix = os.path.join(tmp, "page%d" % i)
            subprocess.run(["pdftoppm", "-q", "-mono", "-rx", "%g" % xdpi, "-ry", "%g" % ydpi, "-f", str(i),
                            "-l", str(i), "-singlefile", pdf, prefix], check=True)
            rw, rh, rrows = read_pbm(prefix + ".pbm")
            if not (w <= rw <= w + 1 and h <= rh <= h + 1):
                fail("page %d rendered %dx%d, the TIFF is %dx%d" % (i, rw, rh, w, h))
            diff = sum(popcount_diff(rows[y], rrows[y], w) for y in range(h))
            print("page %d: %dx%d at %gx%g dpi, %.2f x %.2f pt, %d of %d pixels differ"
                  % (i, w, h, xdpi, ydpi, got[0], got[1], diff, w * h))
            if diff > MAX_DIFF_RATIO * w * h:
                fail("page %d: %d of %d pixels differ from the TIFF" % (i, diff, w * h))


main()
