#!/usr/bin/env python3
# prom_check.py - a small strict reader of the Prometheus text exposition
# format 0.0.4, for the mounted metrics test: every line must be a HELP,
# TYPE or sample line; samples must follow their family's TYPE; counters
# end in _total; histogram buckets ascend, are cumulative and end in +Inf
# equal to _count. Prints "name{labels} value" per sample when it passes.
# usage: prom_check.py FILE
import math
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*'
SAMPLE = re.compile(r'^(' + NAME + r')(\{(.*)\})? (\S+)( -?[0-9]+)?$')
PAIR = re.compile(r'(' + LABEL + r')="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


def fail(lineno, why, line=''):
    sys.exit('metrics line %d: %s: %r' % (lineno, why, line))


def parse_value(lineno, text, line):
    if text in ('+Inf', '-Inf', 'NaN'):
        return float(text.replace('Inf', 'inf').replace('NaN', 'nan'))
    try:
        return float(text)
    except ValueError:
        fail(lineno, 'not a number', line)


def parse_labels(lineno, text, line):
    labels, pos = {}, 0
    while pos < len(text):
        m = PAIR.match(text, pos)
        if not m:
            fail(lineno, 'bad label syntax', line)
        if m.group(1) in labels:
            fail(lineno, 'label repeated', line)
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def family_of(name, types):
    if name in types:
        return name
    for suffix in ('_bucket', '_sum', '_count'):
        base = name[:-len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ('histogram', 'summary'):
            return base
    return None


def main(path):
    data = open(path, encoding='utf-8').read()
    if not data.endswith('\n'):
        sys.exit('metrics: the last line lacks its newline')
    types, helps, seen, series = {}, set(), set(), {}
    current = None
    for lineno, line in enumerate(data[:-1].split('\n'), 1):
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) < 3 or parts[1] not in ('HELP', 'TYPE') or not re.fullmatch(NAME, parts[2]):
                fail(lineno, 'bad comment line', line)
            name = parts[2]
            if parts[1] == 'HELP':
                if name in helps:
                    fail(lineno, 'second HELP', line)
                helps.add(name)
            else:
                if name in types or len(parts) != 4 or parts[3] not in TYPES:
                    fail(lineno, 'bad or second TYPE', line)
                if name in seen:
                    fail(lineno, 'TYPE after samples', line)
                types[name] = parts[3]
                if parts[3] == 'counter' and not name.endswith('_total'):
                    fail(lineno, 'counter not ending in _total', line)
            current = name
            continue
        m = SAMPLE.match(line)
        if not m:
            fail(lineno, 'not a sample line', line)
        name, labels = m.group(1), parse_labels(lineno, m.group(3) or '', line)
        value = parse_value(lineno, m.group(4), line)
        fam = family_of(name, types)
        if fam is None or fam != current:
            fail(lineno, 'sample outside its family', line)
        seen.add(fam)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            fail(lineno, 'series repeated', line)
        series[key] = value
        if types[fam] == 'counter' and (value < 0 or math.isnan(value)):
            fail(lineno, 'negative counter', line)
    for fam, kind in types.items():
        if kind != 'histogram':
            continue
        buckets = sorted((float(dict(k[1])['le'].replace('Inf', 'inf')), v)
                         for k, v in series.items() if k[0] == fam + '_bucket')
        if not buckets or not math.isinf(buckets[-1][0]):
            sys.exit('metrics: %s has no +Inf bucket' % fam)
        for (_, lo), (_, hi) in zip(buckets, buckets[1:]):
            if hi < lo:
                sys.exit('metrics: %s buckets are not cumulative' % fam)
        if series.get((fam + '_count', ())) != buckets[-1][1]:
            sys.exit('metrics: %s_count differs from its +Inf bucket' % fam)
        if (fam + '_sum', ()) not in series:
            sys.exit('metrics: %s has no _sum' % fam)
    for (name, labels), value in sorted(series.items()):
        text = ','.join('%s="%s"' % kv for kv in labels)
        print('%s%s %s' % (name, '{' + text + '}' if text else '', repr(value)))


main(sys.argv[1])
