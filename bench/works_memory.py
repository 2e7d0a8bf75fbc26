"""Memory of one worker in broadcast matching, for N real-sized registered works.

`python bench/works_memory.py N [WORDS]` builds a snapshot of N works of WORDS words
(default 754: about 750 word 5-grams, the size of a registered article), then loads it in
a fresh child process exactly as a worker does (Snapshot.from_bytes, then the broadcast
index) and reports the child's resident memory at each step and its peak. The `auto`
match strategy's estimate (Snapshot.works_bytes) is printed beside the measurement.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import gc, json, resource, sys, time
def rss():
    with open('/proc/self/status') as fh:
        for line in fh:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
from clearcrawl.registry.snapshot import Snapshot
import numpy as np
base = rss()
data = open(sys.argv[1], 'rb').read()
started = time.perf_counter()
snapshot = Snapshot.from_bytes(data)
del data
gc.collect()
loaded = rss()
matcher = snapshot.work_matcher
built = rss()
print(json.dumps({'baseline_mb': base, 'after_load_mb': loaded, 'after_index_mb': built,
                  'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  'load_and_build_s': time.perf_counter() - started,
                  'estimate_mb': snapshot.works_bytes() / 2**20}))
"""


def snapshot_bytes(n_works: int, words: int, seed: int = 5) -> tuple[bytes, int]:
    """(gzip snapshot of n works, total shingles) with the bundled registry's policy."""
    import hashlib

    from clearcrawl.core.minhash import MinHashParams
    from clearcrawl.core.policy import Policy
    from clearcrawl.core.works import work_record
    from clearcrawl.registry.snapshot import FORMAT, canonical_json
    from clearcrawl.synth_text import TextMaker

    params = MinHashParams()
    maker = TextMaker(seed)
    # Windows of one long random word stream: as many distinct 5-grams a work as prose of
    # its own, at a fraction of the cost of generating it.
    stream = maker.words_(words * 2000)
    starts = [maker.rng.randrange(len(stream) - words) for _ in range(n_works)]
    works = [work_record({"entry_id": f"w{i:07d}", "kind": "optout", "title": f"Work {i}",
                          "rights_holder": "Bench",
                          "text": " ".join(stream[start:start + words])}, params)
             for i, start in enumerate(starts)]
    content = {"name": "bench", "version": "1", "policy": Policy().as_dict(), "sources": [],
               "domain_rules": [], "matching": params.as_dict(), "works": works, "robots": {},
               "tdmrep": {}, "aitxt": {}, "agents": {}}
    registry_id = hashlib.sha256(canonical_json(content)).hexdigest()
    import gzip

    doc = {"format": FORMAT, "registry_id": registry_id, "content": content}
    return gzip.compress(canonical_json(doc), 1), sum(w["shingle_count"] for w in works)


def measure(n_works: int, words: int = 754) -> dict:
    started = time.perf_counter()
    data, shingles = snapshot_bytes(n_works, words)
    built_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "snapshot.json.gz")
        with open(path, "wb") as fh:
            fh.write(data)
        done = subprocess.run([sys.executable, "-c", _CHILD, path], check=True,
                              capture_output=True, text=True)
    result = json.loads(done.stdout)
    worker_mb = result["after_index_mb"] - result["baseline_mb"]
    result.update({"works": n_works, "words": words, "shingles": shingles,
                   "snapshot_gzip_mb": len(data) / 2**20, "snapshot_build_s": built_s,
                   "worker_mb": worker_mb,
                   "bytes_per_shingle": worker_mb * 2**20 / shingles,
                   "mb_per_million_works": worker_mb * 1e6 / n_works})
    return result


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    words = int(sys.argv[2]) if len(sys.argv) > 2 else 754
    print(json.dumps(measure(n, words), indent=2))
