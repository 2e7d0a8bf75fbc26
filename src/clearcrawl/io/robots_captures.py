"""robots.txt captures from Common Crawl `robotstxt/` WARCs.

Every response record becomes a `Capture` (core.crawl_captures): those of a
`/robots.txt` URL apply to their origin (`scheme://host:port`, the scope of
RFC 9309); any other is kept only as a possible redirect target.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from clearcrawl.core.crawl_captures import Capture
from clearcrawl.core.robots import MAX_ROBOTS_BYTES
from clearcrawl.io.documents import parse_time
from clearcrawl.io.http import parse_response
from clearcrawl.io.warc import WarcRecord, iter_records


def read_captures(uri: str, fh: BinaryIO) -> Iterator[Capture]:
    for item in iter_records(fh):
        if not isinstance(item, WarcRecord) or item.record_type != "response":
            continue
        url = item.headers.get("warc-target-uri", "").strip().strip("<>")
        if not url:
            continue
        response = parse_response(item.payload)
        date = item.headers.get("warc-date", "")
        yield Capture(url, date, parse_time(date), response.status,
                      response.body[:MAX_ROBOTS_BYTES], f"{uri}@{item.offset}",
                      _location(response.headers))


def _location(headers) -> str:
    """The Location header (the first, if repeated: an http.py list or a joined string)."""
    for name, value in headers:
        if name == "location":
            value = value[0] if isinstance(value, (list, tuple)) else value
            return value.split(", ")[0].strip() if value else ""
    return ""
