"""Paired timing for the benchmark scripts: two functions called alternately (f g g f ...)
in one process, so both see the same phase of a machine whose speed drifts."""
from __future__ import annotations

import time


def alternate(f, g, min_pairs: int, budget: float, max_pairs: int, cap: float = float("inf")):
    """Process CPU times of f and of g, one list each, from calls alternated until at least
    ``min_pairs`` pairs are done and ``budget`` wall seconds spent (at most ``max_pairs``
    pairs, never past ``cap`` seconds)."""
    tf, tg, spent = [], [], 0.0

    def timed(h):
        t = time.process_time()
        h()
        return time.process_time() - t
    while (len(tf) < min_pairs or spent < budget) and len(tf) < max_pairs and spent < cap:
        t_wall = time.perf_counter()
        if len(tf) % 2:
            b, a = timed(g), timed(f)
        else:
            a, b = timed(f), timed(g)
        tf.append(a)
        tg.append(b)
        spent += time.perf_counter() - t_wall
    return tf, tg
