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
import math
import os
import struct
import tempfile
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
# encoder asks `_plain` only for the values it cannot write itself. ledger_leaves below
# writes the same text in Arrow: change both together.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=_plain)


def row_leaf(row: dict) -> bytes:
    canonical = _CANONICAL.encode(row)
    return hashlib.sha256(b"\x00" + canonical.encode("utf-8", "surrogatepass")).digest()


def plain_rows(table) -> list[dict]:
    """A ledger table's rows as dicts for `row_leaf`, with timestamps already in the
    leaf's text form, formatted by Arrow in one pass (Python datetimes cost more to
    make than the rest of the row)."""
    for index, field in enumerate(table.schema):
        column = table.column(index)
        # strftime pads years to 4 digits only from 1000 on; Python's %Y never does.
        if field.type == _UTC_MICROS and (
                column.null_count == len(column) or pc.min(pc.year(column)).as_py() >= 1000):
            table = table.set_column(index, field.name, pc.strftime(column, _LEAF_TIME))
    return table.to_pylist()


def bucket_of(doc_id: str, buckets: int = BUCKETS) -> int:
    """The doc_id's bucket of `buckets` (at most 65,536): the ledger root's by default."""
    digest = hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:2], "big") % buckets


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


# The same leaves as row_leaf, written column by column in Arrow for the workers that
# write the ledger: any change to row_leaf's encoding must be made here too
# (tests/beam/test_outputs.py compares the two on generated tables).
_QUOTED = r'["\\]'  # the canonical JSON writes them after a backslash


def ledger_leaves(table: pa.Table) -> list[bytes]:
    """The Merkle leaves (row_leaf of plain_rows) of a ledger table's rows,
    in order: the canonical JSON of every row written by Arrow, column by column, and
    only hashed in Python. Rows holding a control character (which JSON escapes) and
    tables of other shapes are left to row_leaf."""
    leaves: list[bytes] = []
    for batch in table.to_batches():
        texts = _canonical_rows(batch)
        if texts is None:
            leaves += [row_leaf(row) for row in plain_rows(pa.Table.from_batches([batch]))]
            continue
        batch_leaves = [hashlib.sha256(text).digest()
                        for text in texts.cast(pa.binary()).to_pylist()]
        odd = _with_control(texts)
        if len(odd):
            redone = plain_rows(pa.Table.from_batches([batch]).take(odd))
            for index, row in zip(odd.tolist(), redone):
                batch_leaves[index] = row_leaf(row)
        leaves += batch_leaves
    return leaves


def _with_control(texts: pa.StringArray) -> np.ndarray:
    """Indices of the texts holding a byte below 0x20 past their first (never part of a
    multi-byte UTF-8 character), found in the data buffer at once."""
    if not len(texts):
        return np.zeros(0, np.int64)
    offsets = np.frombuffer(texts.buffers()[1], np.int32)[
        texts.offset:texts.offset + len(texts) + 1]
    data = np.frombuffer(texts.buffers()[2], np.uint8)
    at = np.flatnonzero(data[offsets[0]:offsets[-1]] < 0x20) + offsets[0]
    rows = np.searchsorted(offsets, at, side="right") - 1
    return np.unique(rows[at != offsets[rows]])


def _canonical_rows(batch: pa.RecordBatch) -> pa.Array | None:
    """NUL and the canonical JSON of each row, but for the escapes of control characters
    (to be looked for); None if a column is of a type not handled here."""
    parts = _object_parts(batch.schema, batch.columns)
    if parts is None:
        return None
    return _join(["\x00", *parts], len(batch))


def _object_parts(fields, columns) -> list | None:
    """Literal strings and arrays whose concatenation writes each row of `columns` as a
    JSON object (keys sorted)."""
    parts = []
    for field, column in sorted(zip(fields, columns), key=lambda item: item[0].name):
        value = _value_parts(column)
        if value is None:
            return None
        parts += [("{" if not parts else ",") + _CANONICAL.encode(field.name) + ":", *value]
    return [*parts, "}"] if parts else None


def _value_parts(array: pa.Array) -> list | None:
    """Literal strings and arrays whose concatenation is each value's canonical JSON, as
    the leaf's encoder writes it (control characters aside); None for a type not
    handled here."""
    kind = array.type
    if array.null_count == len(array):
        return ["null"]
    if pa.types.is_timestamp(kind):
        return _time_parts(array)
    if pa.types.is_string(kind):
        if pc.any(pc.match_substring_regex(array, _QUOTED)).as_py():
            array = pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"),
                                         '"', '\\"')
        if not array.null_count:
            return ['"', array, '"']
        return [pc.coalesce(pc.binary_join_element_wise('"', array, '"', ""), "null")]
    if pa.types.is_integer(kind):
        return [pc.coalesce(pc.cast(array, pa.string()), "null")]
    if pa.types.is_floating(kind):
        # Python's float repr, NaN and Infinity: only Python writes them so.
        return [pa.array(["null" if v is None else repr(v) if math.isfinite(v) else json.dumps(v)
                          for v in array.to_pylist()], pa.string())]
    if pa.types.is_struct(kind) and not array.null_count:
        # flatten: each field's values as the struct's own slice holds them.
        parts = _object_parts(list(kind), array.flatten())
        return None if parts is None else [_join(parts, len(array))]
    if pa.types.is_list(kind) and not array.null_count:
        items = _value_parts(array.flatten())
        if items is None:
            return None
        offsets = pc.subtract(array.offsets, array.offsets[0])
        lists = pa.ListArray.from_arrays(offsets, _join(items, len(array.flatten())))
        return ["[", pc.binary_join(lists, ","), "]"]
    return None


def _time_parts(array: pa.Array) -> list | None:
    """plain_rows' text of UTC times: Arrow's cast writes it faster than strftime
    (years 1000 to 9999, where they agree), then as a string; None for other years."""
    if array.type != pa.timestamp("us", tz="UTC"):
        return None
    years = pc.min_max(pc.year(array))
    if years["min"].as_py() < 1000 or years["max"].as_py() > 9999:
        return None  # left to row_leaf and plain_rows
    # "YYYY-MM-DD HH:MM:SS.ffffff" of the same UTC time without its zone (which Arrow
    # would look up for every value): strftime's text but for the "T" and "Z".
    written = pc.cast(pc.cast(array, pa.timestamp("us")), pa.string())
    return _value_parts(pc.binary_join_element_wise(
        pc.replace_substring(written, " ", "T", max_replacements=1), "Z", ""))


def _join(parts: list, length: int) -> pa.Array:
    """The concatenation of `parts` (literal strings, adjacent ones merged, and arrays)."""
    merged: list = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if not any(isinstance(part, pa.Array) for part in merged):
        return pa.array(["".join(merged)] * length, pa.string())
    return pc.binary_join_element_wise(*merged, "")
