"""The bench's one way to time a step: the best of a few runs (these machines are noisy)."""

from __future__ import annotations

import time


def best_time(fn, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
