"""Recompute an output's ledger_root from its ledger/ files alone (README, "ledger_root").

    python docs/recompute_ledger_root.py OUTPUT_DIR    # prints the root; compare it
                                                       # with manifest.json's ledger_root

Independent of clearcrawl: pyarrow, hashlib and json only. It holds every leaf in
memory; `clearcrawl audit verify` computes the same root bucket by bucket.
"""

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

BUCKETS = 1024


def text(value):  # JSON has no timestamps: UTC, microseconds, Z
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def leaf(row):
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=text)
    return hashlib.sha256(b"\x00" + canonical.encode("utf-8", "surrogatepass")).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):  # RFC 6962 2.1: split at the largest power of two below n
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node(mth(hashes[:k]), mth(hashes[k:]))


def ledger_root(rows):
    buckets = [[] for _ in range(BUCKETS)]
    for row in rows:
        digest = hashlib.sha256(row["doc_id"].encode("utf-8", "surrogatepass")).digest()
        buckets[int.from_bytes(digest[:2], "big") % BUCKETS].append((row["doc_id"], leaf(row)))
    roots = [mth([h for _, h in sorted(bucket)]) for bucket in buckets]
    return mth(roots).hex()  # 1024 = 2**10 bucket roots: a perfect tree of node()


if __name__ == "__main__":
    files = sorted(Path(sys.argv[1], "ledger").glob("*.parquet"))
    print(ledger_root(row for f in files for row in pq.read_table(f).to_pylist()))
