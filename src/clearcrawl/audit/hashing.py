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

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def file_sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


# One encoder for every row: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str)


def row_leaf(row: dict) -> bytes:
    canonical = _CANONICAL.encode({k: _plain(v) for k, v in row.items()})
    return hashlib.sha256(b"\x00" + canonical.encode("utf-8", "surrogatepass")).digest()


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


def ledger_root(rows: Iterable[dict]) -> str:
    keyed = sorted((row["doc_id"], row_leaf(row)) for row in rows)
    return merkle_root(leaf for _, leaf in keyed)
