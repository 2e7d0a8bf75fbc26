"""Hashes that make the output verifiable: file digests and the ledger root.

The ledger root (README "ledger_root") is built so that each part needs memory
bounded per key, wherever the rows are:

    leaf(row)       = sha256(0x00 || canonical JSON of the row)          (row_leaf)
    node(l, r)      = sha256(0x01 || l || r)
    bucket(doc_id)  = int.from_bytes(sha256(utf-8 doc_id)[:2], "big") % BUCKETS
    bucket root     = RFC 6962 Merkle tree hash of the bucket's leaves in doc_id
                      order (sha256(b"") for an empty bucket)          (merkle_root)
    ledger_root     = the perfect binary tree of node() over the BUCKETS bucket
                      roots in bucket order                              (top_root)

So the root depends only on the rows, not on how a runner sharded them into files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterable
from typing import BinaryIO

import pyarrow as pa

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
# 2**10 buckets: a Common Crawl dump's ~3e9 rows make ~3e6 leaves a bucket (~400 MB
# in one worker as Python tuples), and a run of a few files emits at most this many
# bucket groups per ledger file.
BUCKETS = 1024


def file_sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


# Arrow's %S of a microsecond timestamp has the microseconds: Python's %S.%f.
_LEAF_TIME = "%Y-%m-%dT%H:%M:%SZ"
_UTC_MICROS = pa.timestamp("us", tz="UTC")


def _plain(value) -> str:
    """The leaf's text for values JSON has none for: datetimes, else str()."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


# One encoder for every row (json.dumps with options builds a new one per call); the
# encoder asks `_plain` only for the values it cannot write itself.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=_plain)


def row_leaf(row: dict) -> bytes:
    canonical = _CANONICAL.encode(row)
    return hashlib.sha256(b"\x00" + canonical.encode("utf-8", "surrogatepass")).digest()


def plain_rows(table) -> list[dict]:
    """A ledger table's rows as dicts for `row_leaf`, with timestamps already in the
    leaf's text form, formatted by Arrow in one pass (Python datetimes cost more to
    make than the rest of the row)."""
    import pyarrow.compute as pc

    for index, field in enumerate(table.schema):
        column = table.column(index)
        # strftime pads years to 4 digits only from 1000 on; Python's %Y never does.
        if field.type == _UTC_MICROS and (
                column.null_count == len(column) or pc.min(pc.year(column)).as_py() >= 1000):
            table = table.set_column(index, field.name, pc.strftime(column, _LEAF_TIME))
    return table.to_pylist()


def bucket_of(doc_id: str) -> int:
    digest = hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:2], "big") % BUCKETS


def merkle_root(leaves: Iterable[bytes]) -> str:
    """Root over leaves in the given order; an odd node is carried up unchanged (the
    RFC 6962 tree: its left subtree holds the largest power of two of leaves)."""
    level = list(leaves)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def bucket_root(keyed: Iterable[tuple[str, bytes]]) -> tuple[str, int, int]:
    """(root, rows, doc_ids repeated) of one bucket's (doc_id, leaf) pairs."""
    ordered = sorted(keyed)
    repeated = sum(1 for a, b in zip(ordered, ordered[1:]) if a[0] == b[0])
    return merkle_root(leaf for _, leaf in ordered), len(ordered), repeated


def top_root(bucket_roots: dict[int, str]) -> str:
    """The ledger root over {bucket: root hex}; absent buckets are empty."""
    return merkle_root(bytes.fromhex(bucket_roots.get(b, EMPTY_ROOT)) for b in range(BUCKETS))


LEAF_BYTES = 32  # a sha256 digest
# A spilled pair: the doc_id's length, the doc_id (UTF-8), the leaf. Plain bytes, never
# pickle: nothing the pipeline reads back may be able to run code.
_SPILL_HEADER = struct.Struct(">I")


def _spilled(doc_id: str, leaf: bytes) -> bytes:
    encoded = doc_id.encode("utf-8", "surrogatepass")
    return _SPILL_HEADER.pack(len(encoded)) + encoded + leaf


class BucketedRoot:
    """The ledger root of rows added in any order, in bounded memory: (doc_id, leaf)
    pairs wait per bucket, spilled to one temporary file per bucket beyond
    `max_in_memory` pairs; each bucket is then sorted on its own."""

    def __init__(self, max_in_memory: int = 1_000_000):
        self._max = max_in_memory
        self._waiting: dict[int, list[tuple[str, bytes]]] = {}
        self._count = 0
        self._spill: tempfile.TemporaryDirectory | None = None

    def add(self, doc_id: str, leaf: bytes) -> None:
        self._waiting.setdefault(bucket_of(doc_id), []).append((doc_id, leaf))
        self._count += 1
        if self._count >= self._max:
            self._flush()

    def _flush(self) -> None:
        if self._spill is None:
            self._spill = tempfile.TemporaryDirectory(prefix="clearcrawl-root-")
        for bucket, pairs in self._waiting.items():
            with open(os.path.join(self._spill.name, str(bucket)), "ab") as fh:
                fh.write(b"".join(_spilled(doc_id, leaf) for doc_id, leaf in pairs))
        self._waiting, self._count = {}, 0

    def _pairs(self, bucket: int) -> list[tuple[str, bytes]]:
        pairs = list(self._waiting.get(bucket, ()))
        path = self._spill and os.path.join(self._spill.name, str(bucket))
        if path and os.path.exists(path):
            with open(path, "rb") as fh:
                data = fh.read()
            at = 0
            while at < len(data):
                (size,) = _SPILL_HEADER.unpack_from(data, at)
                at += _SPILL_HEADER.size
                doc_id = data[at:at + size].decode("utf-8", "surrogatepass")
                at += size
                pairs.append((doc_id, data[at:at + LEAF_BYTES]))
                at += LEAF_BYTES
        return pairs

    def buckets(self) -> dict[int, tuple[str, int, int]]:
        """{bucket: (root, rows, repeated doc_ids)} of every non-empty bucket."""
        out = {}
        for bucket in range(BUCKETS):
            pairs = self._pairs(bucket)
            if pairs:
                out[bucket] = bucket_root(pairs)
        return out

    def close(self) -> None:
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None
