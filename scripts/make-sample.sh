#!/usr/bin/env bash
# Writes a sample fax document (1-bit TIFF, 1728 pixels wide, 204x196 dpi,
# PAGES pages) rendered from text: make-sample.sh OUT.tif [PAGES]
set -euo pipefail
out=${1:?usage: make-sample.sh OUT.tif [PAGES]}
pages=${2:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((i = 1; i <= pages; i++)); do
    {
        echo "FAXFS SAMPLE DOCUMENT"
        echo
        echo "Page $i of $pages"
        echo
        echo "This page was rendered from text by scripts/make-sample.sh."
        echo "Copy it into the outbox of a mounted faxfs to send it:"
        echo
        echo "    cp sample.tif MOUNT/outbox/5551234.tif"
        echo
        for ((l = 1; l <= 40; l++)); do
            printf 'line %02d  the quick brown fox jumps over the lazy dog 0123456789\n' "$l"
        done
    } >"$work/page$i.txt"
    efix -i text -o tiffg3 -n "$work/page$i.%03d.tif" "$work/page$i.txt" 2>/dev/null
done
tiffcp -c g4 "$work"/page*.001.tif "$out"
