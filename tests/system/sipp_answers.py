#!/usr/bin/env python3
"""Counts the answers SIPp received, from its -trace_msg message file:
one per transaction (Call-ID, CSeq, status) of a call this SIPp made,
retransmissions counted once.
Usage: sipp_answers.py MESSAGE_FILE METHOD  -> prints "STATUS COUNT" lines."""
import re
import sys

path, method = sys.argv[1], sys.argv[2]
seen = set()
with open(path, errors="replace") as f:
    text = f.read()
blocks = re.split(r"^-{10,}.*$", text, flags=re.M)


def call_id(block):
    m = re.search(r"^\s*(?:Call-ID|i):\s*(\S+)", block, flags=re.M | re.I)
    return m.group(1) if m else None


# Only answers to calls this SIPp made: a daemon of another test may still
# be retransmitting a 200 OK to the port this SIPp took over after the
# other test's SIPp exited.
ours = {call_id(b) for b in blocks if "message sent" in b} - {None}
for block in blocks:
    if "message received" not in block:
        continue
    status = re.search(r"^\s*SIP/2\.0 (\d{3})", block, flags=re.M)
    cseq = re.search(r"^\s*CSeq:\s*(\d+)\s+(\S+)", block, flags=re.M | re.I)
    callid = call_id(block)
    if not status or not cseq or callid not in ours or cseq.group(2) != method:
        continue
    seen.add((callid, cseq.group(1), status.group(1)))
counts = {}
for _, _, code in seen:
    counts[code] = counts.get(code, 0) + 1
for code in sorted(counts):
    print(code, counts[code])
