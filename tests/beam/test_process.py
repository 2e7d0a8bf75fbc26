"""Process tuning: glibc keeps freed memory for reuse instead of faulting it in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Allocates and frees buffers of mixed sizes, as a batch of pages does, and prints the
# page faults of 20 such cycles after a first one.
_CYCLES = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from clearcrawl.beam.process import keep_freed_memory
    assert keep_freed_memory()
sizes = [1 << 20, 3 << 20, 12 << 20, 2 << 20, 24 << 20, 5 << 20]
def cycle():
    held = [np.ones(n, np.uint8) for n in sizes]
    held.clear()
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _CYCLES, mode], check=True,
                          capture_output=True, text=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning is glibc's")
def test_freed_memory_is_reused_without_page_faults():
    default = _faults("default")
    if default < 1000:
        pytest.skip(f"this glibc already reuses the memory ({default} faults untuned)")
    # 20 cycles allocate some 240,000 pages; tuned, they are the same pages each time.
    assert _faults("tuned") < 100
