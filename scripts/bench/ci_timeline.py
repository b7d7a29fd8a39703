#!/usr/bin/env python3
"""ci_timeline.py - when each test started and ended in a scripts/test.sh log.

usage: scripts/bench/ci_timeline.py LOG [MIN_SECONDS]

ctest -jN prints "Start N: name" when it starts a test and "k/n Test #N:
name ... Passed S sec" when it ends. A test starts right after the test whose
end was printed before its Start line (ctest starts tests as others end), so
the start times follow from the order of the lines and the durations. For each
test phase ("== test DIR", "== fuzz DIR") of the log this prints the tests that took at least
MIN_SECONDS (default 8) as "start end seconds name", then the tail: the last
stretch in which a single test ran, and how many tests ran at once over the
phase. The sum is checked against the phase time the script printed.
"""
import re
import sys

START = re.compile(r'\s*Start\s+\d+: (\S+)')
END = re.compile(r'\s*\d+/\d+ Test\s+#\d+: (\S+) \.+\s*\**\s*(\S+)\s+([\d.]+) sec')
PHASE = re.compile(r'== (?:test|fuzz) (\S+)')
DONE = re.compile(r'== (.*): (\d+) s \(total')


def report(name, tests, printed, min_s):
    if not tests:
        return
    end = max(e for _, e, _, _ in tests)
    print(f'== {name}: {len(tests)} tests, last ends at {end:.0f} s'
          + (f' (the script printed {printed} s)' if printed else ''))
    for s, e, d, n in sorted(tests):
        if d >= min_s:
            print(f'{s:7.1f} {e:7.1f} {d:7.1f} {n}')
    # Running tests over time: the stretch at the end with one test only.
    events = sorted([(s, 1) for s, _, _, _ in tests] + [(e, -1) for _, e, _, _ in tests])
    running, last, alone, busy = 0, 0.0, 0.0, 0.0
    alone_from = None
    for t, k in events:
        if running == 1:
            alone += t - last
        busy += running * (t - last)
        running += k
        last = t
        if running == 1:
            alone_from = t
        elif running > 1:
            alone_from = None
    print(f'   one test alone for {alone:.0f} s of {end:.0f} s; mean tests at once {busy / end:.1f}'
          + (f'; alone from {alone_from:.0f} s to the end' if alone_from is not None and alone_from < end else ''))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    min_s = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
    name, now, start, tests = None, 0.0, {}, []
    for line in open(sys.argv[1], errors='replace'):
        m = DONE.match(line)
        if m and name:
            report(name, tests, m.group(2), min_s)
            name = None
            continue
        m = PHASE.match(line)
        if m:
            name, now, start, tests = m.group(1), 0.0, {}, []
            continue
        if not name:
            continue
        m = START.match(line)
        if m:
            start[m.group(1)] = now
            continue
        m = END.match(line)
        if m:
            n, d = m.group(1), float(m.group(3))
            s = start.get(n, 0.0)
            now = s + d
            tests.append((s, now, d, n))
    if name:
        report(name, tests, None, min_s)


if __name__ == '__main__':
    main()
