"""The garbage collector's settings for long-running servers (`wsctl serve`, `wsctl hub`).

Measured in docs/performance.md ("Garbage collector", bench/bench_serve_scale.py
and bench/bench_hub.py under bench/gc_probe.py).  With thousands of
connections most of the collector's work was not collecting garbage: full
collections found nothing (the connections' cyclic garbage is gone, see
tests/net/test_net_garbage.py), they ran because objects that live only for
one burst of sends or one handshake outlived two young collections at
Python's default threshold of 700 and were counted as long-lived.  A larger
first threshold lets them die young; the young collection it triggers stays
short (about 10 ms here).  What start-up built (modules, profiles, the TLS
context) lives as long as the process: `gc.freeze` takes it out of every
later collection.
"""

from __future__ import annotations

import gc

#: allocations (net) between young collections; Python's default is 700
YOUNG_THRESHOLD = 10_000


def tune() -> None:
    """Call once, after start-up and before serving: freeze what exists,
    raise the young generation's threshold (the older ones keep Python's)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
