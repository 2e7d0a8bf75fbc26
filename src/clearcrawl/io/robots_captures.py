"""robots.txt captures from Common Crawl `robotstxt/` WARCs, keyed by scope.

Each response record for a `/robots.txt` URL becomes (origin, capture), where
origin is `scheme://host:port` (the scope of RFC 9309) and capture is a plain
tuple (date, status, body, source id), small and picklable for a side input.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from clearcrawl.core.robots import MAX_ROBOTS_BYTES
from clearcrawl.core.urls import origin_key, split_url
from clearcrawl.io.http import parse_response
from clearcrawl.io.warc import WarcRecord, iter_records

Capture = tuple[str, int | None, bytes, str]  # (date, status, body, source id)


def read_captures(uri: str, fh: BinaryIO) -> Iterator[tuple[str, Capture]]:
    for item in iter_records(fh):
        if not isinstance(item, WarcRecord) or item.record_type != "response":
            continue
        url = item.headers.get("warc-target-uri", "").strip().strip("<>")
        if split_url(url).path.split("?")[0] != "/robots.txt":
            continue
        response = parse_response(item.payload)
        date = item.headers.get("warc-date", "")
        yield origin_key(url), (date, response.status, response.body[:MAX_ROBOTS_BYTES],
                                f"{uri}@{item.offset}")


def latest(captures: list[Capture]) -> Capture:
    """The capture to apply when a crawl fetched one scope's robots.txt several times."""
    return max(captures, key=lambda c: (c[0], c[3]))
