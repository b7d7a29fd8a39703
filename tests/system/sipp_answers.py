#!/usr/bin/env python3
"""Counts the answers SIPp received, from its -trace_msg message file:
one per transaction (Call-ID, CSeq, status), retransmissions counted once.
Usage: sipp_answers.py MESSAGE_FILE METHOD  -> prints "STATUS COUNT" lines."""
import re
import sys

path, method = sys.argv[1], sys.argv[2]
seen = set()
with open(path, errors="replace") as f:
    text = f.read()
for block in re.split(r"^-{10,}.*$", text, flags=re.M):
    if "message received" not in block:
        continue
    status = re.search(r"^\s*SIP/2\.0 (\d{3})", block, flags=re.M)
    cseq = re.search(r"^\s*CSeq:\s*(\d+)\s+(\S+)", block, flags=re.M | re.I)
    callid = re.search(r"^\s*(?:Call-ID|i):\s*(\S+)", block, flags=re.M | re.I)
    if not status or not cseq or not callid or cseq.group(2) != method:
        continue
    seen.add((callid.group(1), cseq.group(1), status.group(1)))
counts = {}
for _, _, code in seen:
    counts[code] = counts.get(code, 0) + 1
for code in sorted(counts):
    print(code, counts[code])
