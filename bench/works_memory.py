"""Memory of one worker for N real-sized registered works, in both match strategies.

`python bench/works_memory.py N [WORDS]` builds a snapshot of N works of WORDS words
(default 754: about 750 word 5-grams, the size of a registered article), its works in
files of WORKS_PER_FILE beside it, then loads it in fresh child processes exactly as a
worker does and reports each child's resident memory at each step and its peak (VmHWM:
ru_maxrss would count the parent's, which holds the works it built, as a child starts as its
copy):
- broadcast: the snapshot (rules and policy only), then every works file, one at a time,
  into the decoded works and the broadcast index (Snapshot.work_matcher);
- join: the snapshot, then one works file as WorkKeysFn reads it (its records, decoded,
  their band keys and anchors): the most a join worker holds for the works.
The `auto` match strategy's estimate (Snapshot.works_bytes) is printed beside them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import gc, json, sys, time
def status(key):
    with open('/proc/self/status') as fh:
        for line in fh:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
def rss():
    return status('VmRSS')
from clearcrawl.registry.load import load_registry
from clearcrawl.core.works import WorkSet
import numpy as np
base = rss()
started = time.perf_counter()
snapshot = load_registry(sys.argv[1])
gc.collect()
loaded = rss()
if sys.argv[2] == 'broadcast':
    matcher = snapshot.work_matcher
    gc.collect()
else:
    records = snapshot.works_file_records(snapshot.works_files[0])
    works = WorkSet.from_records(snapshot.matching, records)
    keys = works.band_keys(*snapshot.bands)
    anchors = [works.anchors(i) for i in range(len(works))]
built = rss()
print(json.dumps({'baseline_mb': base, 'after_load_mb': loaded, 'after_works_mb': built,
                  'peak_mb': status('VmHWM'),
                  'load_and_build_s': time.perf_counter() - started,
                  'estimate_mb': snapshot.works_bytes() / 2**20}))
"""


def write_snapshot(folder: str, n_works: int, words: int, seed: int = 5) -> int:
    """A snapshot of n works (bundled registry's policy) in `folder`; its total shingles."""
    from clearcrawl.core.minhash import MinHashParams
    from clearcrawl.core.policy import Policy
    from clearcrawl.core.works import work_record
    from clearcrawl.registry.snapshot import (
        Snapshot,
        canonical_json,
        registry_id_of,
        shard_works,
    )
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
               "domain_rules": [], "matching": params.as_dict(), "robots": {},
               "tdmrep": {}, "aitxt": {}, "agents": {}}
    listing, files = shard_works(works)
    registry_id = registry_id_of(content, (canonical_json(w) for w in works))
    Snapshot(content, registry_id, listing, files.__getitem__).write(folder)
    return sum(w["shingle_count"] for w in works)


def _child(folder: str, strategy: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, folder, strategy], check=True,
                          capture_output=True, text=True)
    result = json.loads(done.stdout)
    result["worker_mb"] = result["after_works_mb"] - result["baseline_mb"]
    return result


def measure(n_works: int, words: int = 754, keep: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if keep:  # build once, measure again: the build takes minutes
            tmp = keep
        started = time.perf_counter()
        if keep and os.path.exists(os.path.join(keep, "shingles")):
            with open(os.path.join(keep, "shingles")) as fh:
                shingles = int(fh.read())
        else:
            shingles = write_snapshot(tmp, n_works, words)
            with open(os.path.join(tmp, "shingles"), "w") as fh:
                fh.write(str(shingles))
        built_s = time.perf_counter() - started
        sizes = {name: os.path.getsize(os.path.join(tmp, name)) for name in
                 ["snapshot.json.gz", *(f"works/{f}" for f in os.listdir(f"{tmp}/works"))]}
        broadcast, join = _child(tmp, "broadcast"), _child(tmp, "join")
    worker_mb = broadcast["worker_mb"]
    return {"works": n_works, "words": words, "shingles": shingles,
            "snapshot_file_kb": sizes["snapshot.json.gz"] / 2**10,
            "works_files": len(sizes) - 1,
            "works_files_gzip_mb": sum(v for k, v in sizes.items() if k.startswith("works/"))
            / 2**20, "snapshot_build_s": built_s,
            "broadcast": broadcast, "join_one_file": join,
            "worker_mb": worker_mb, "bytes_per_shingle": worker_mb * 2**20 / shingles,
            "mb_per_million_works": worker_mb * 1e6 / n_works,
            "peak_mb_per_million_works": (broadcast["peak_mb"] - broadcast["baseline_mb"])
            * 1e6 / n_works}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    words = int(sys.argv[2]) if len(sys.argv) > 2 else 754
    # WORKS_MEMORY_KEEP=DIR keeps the built snapshot there and reuses it on the next run.
    print(json.dumps(measure(n, words, os.environ.get("WORKS_MEMORY_KEEP")), indent=2))
