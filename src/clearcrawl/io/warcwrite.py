"""Write WARC records (Common Crawl style: one gzip member per record)."""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
from collections.abc import Mapping, Sequence


def warc_record(record_type: str, payload: bytes, *, target_uri: str | None = None,
                date: dt.datetime | None = None, record_id: str | None = None,
                extra: dict[str, str] | None = None) -> bytes:
    headers = {
        "WARC-Type": record_type,
        "WARC-Date": (date or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "WARC-Record-ID": f"<urn:uuid:{record_id or uuid.uuid4()}>",
    }
    if target_uri is not None:
        headers["WARC-Target-URI"] = target_uri
    if record_type == "response":
        headers["Content-Type"] = "application/http; msgtype=response"
    elif record_type == "conversion":
        headers["Content-Type"] = "text/plain"
    headers.update(extra or {})
    headers["Content-Length"] = str(len(payload))
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("utf-8") + payload + b"\r\n\r\n"


def http_response(body: bytes, headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
                  status: int = 200) -> bytes:
    """An HTTP/1.1 response. `headers` as a mapping, or as (name, value) pairs where a
    name may repeat (one header line each). Content-Type defaults to HTML."""
    reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}.get(status, "OK")
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.insert(0, ("Content-Type", "text/html; charset=utf-8"))
    pairs.append(("Content-Length", str(len(body))))
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in pairs]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def gzip_member(record: bytes, level: int = 6) -> bytes:
    return gzip.compress(record, compresslevel=level, mtime=0)
