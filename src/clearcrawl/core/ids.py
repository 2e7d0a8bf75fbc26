"""Stable identifiers: the same record always gets the same id."""

from __future__ import annotations

import hashlib


def doc_id_for(source_uri: str, offset: int, ordinal: int = 0) -> str:
    """128-bit hex id of the record at (file, offset, ordinal within the gzip member)."""
    key = f"{source_uri}\x00{offset}\x00{ordinal}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:32]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
