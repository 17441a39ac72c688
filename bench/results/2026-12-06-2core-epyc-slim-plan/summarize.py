#!/usr/bin/env python3
"""Medians per variant of ab.txt (ab.sh's output) and ab-scratch-cap.txt."""
import collections, statistics as st, sys, os
here = os.path.dirname(os.path.abspath(__file__))
d = collections.defaultdict(list)
for l in open(os.path.join(here, 'ab.txt')):
    w = l.split()
    if len(w) < 4: continue
    if w[1] == 'image':
        for name, i in (('image training CPU s', 3), ('image inference pass CPU s', 5), ('image job peak allocated MB', 7), ('image planned MB', 9)):
            d[(w[0], name)].append(float(w[i]))
    else:
        d[(w[0], '%s %s threads ms' % (w[1], w[3]))].append(float(w[5]))
        d[(w[0], '%s %s threads RSS increase MB' % (w[1], w[3]))].append(float(w[9]))
print('| ab.txt, medians | whole (15c3489) | slim (597271d) | slim / whole | slim, scratch in the cap |')
print('|---|---|---|---|---|')
for k in sorted(set(k for _, k in d)):
    o, n, s = (st.median(d[(v, k)]) for v in ('old', 'new', 'ws'))
    print('| %s | %.3f | %.3f | %.2f | %.3f |' % (k, o, n, n / o if o else float('nan'), s))
e = collections.defaultdict(list)
for l in open(os.path.join(here, 'ab-scratch-cap.txt')):
    w = l.split()
    if len(w) >= 4: e[(w[0], w[1])].append(float(w[3]))
print()
print('| ab-scratch-cap.txt, medians | slim | slim, scratch in the cap | ratio |')
print('|---|---|---|---|')
for k, unit in (('image', 'training CPU s'), ('mnv2_frozen', 'ms a batch, 1 thread')):
    a, b = st.median(e[('new', k)]), st.median(e[('ws', k)])
    print('| %s %s (n=%d, %d) | %.4f | %.4f | %.2f |' % (k, unit, len(e[('new', k)]), len(e[('ws', k)]), a, b, b / a))
