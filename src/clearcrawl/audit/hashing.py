"""Hashes that make the output verifiable: file digests and the ledger root.

The ledger root is a Merkle root over the ledger rows ordered by doc_id. Each
leaf is the sha256 of the row's canonical JSON, so the root depends only on the
rows, not on how Beam sharded them into files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import BinaryIO

import pyarrow as pa

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


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


def merkle_root(leaves: Iterable[bytes]) -> str:
    """Root over leaves in the given order; an odd node is carried up unchanged."""
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
