"""Turn framed records (WARC responses, WET conversions, JSON objects) into Documents."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re

from clearcrawl.core.html import charset_of, decode_text, parse_html
from clearcrawl.core.ids import doc_id_for
from clearcrawl.core.urls import origin_of, registered_domain, split_url
from clearcrawl.io.http import parse_response
from clearcrawl.io.warc import WarcRecord
from clearcrawl.records import Document, ReadFailure

NO_HOST = "no_host"  # error_kind of a record whose URL names no host
_CRAWL = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+html")
_TEXT_TYPES = ("text/plain", "text/markdown")


@functools.lru_cache(maxsize=256)  # one value per input file
def crawl_of(source_uri: str) -> str | None:
    found = _CRAWL.search(source_uri)
    return found.group(0) if found else None


def parse_time(value: str | None) -> dt.datetime | None:
    """ISO-8601 (WARC-Date, JSONL dates) to aware UTC; None when absent or odd."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def make_document(*, url: str, text: str, source_uri: str, offset: int, ordinal: int = 0,
                  fetch_time: dt.datetime | None = None, headers=(), status=None,
                  content_type: str = "text/plain", meta=(), license_links=(),
                  doc_id: str | None = None) -> Document | ReadFailure:
    """A Document, or a ReadFailure of kind `no_host` when no host can be found in
    the URL: host rules and per-host signals could not be checked, so the record
    is an error row, never a silent keep."""
    parts = split_url(url)
    host = parts.host
    if not host:
        return ReadFailure(doc_id or doc_id_for(source_uri, offset, ordinal), source_uri, offset,
                           NO_HOST, f"no host in URL {url[:500]!r}: host rules and per-host "
                           "opt-outs cannot be checked", url or None)
    encoded = text.encode("utf-8", "surrogatepass")
    # Positional, in field order: keyword passing costs more on every record.
    return Document(
        doc_id or doc_id_for(source_uri, offset, ordinal),
        url,
        host,
        registered_domain(host),
        fetch_time,
        tuple(headers),
        status,
        content_type,
        text,
        hashlib.sha256(encoded).hexdigest(),
        len(encoded),
        source_uri,
        offset,
        crawl_of(source_uri),
        tuple(meta),
        tuple(license_links),
        origin_of(parts),
    )


def document_from_warc(record: WarcRecord, source_uri: str) -> Document | ReadFailure:
    """A WARC response (HTTP inside) or WET conversion record as a Document.

    Payloads that are not text (images, PDFs, archives) become a ReadFailure of
    kind `not_text`: they are accounted for, but no text can be trained on.
    """
    headers = record.headers
    url = headers.get("warc-target-uri", "").strip().strip("<>")
    fetch_time = parse_time(headers.get("warc-date"))
    offset, ordinal = record.offset, record.ordinal
    if record.record_type == "conversion":
        return make_document(url=url, text=decode_text(record.payload, "utf-8"),
                             source_uri=source_uri, offset=offset, ordinal=ordinal,
                             fetch_time=fetch_time)
    response = parse_response(record.payload)
    content_type = ""
    for name, value in response.headers:
        if name == "content-type":  # the first one, as sent
            content_type = value
            break
    content_type = (content_type or headers.get("warc-identified-payload-type") or "").strip()
    media_type, charset = _media_type_and_charset(content_type)
    body = response.body
    if media_type in _HTML_TYPES or (not media_type and _looks_like_html(body)):
        page = parse_html(body, charset)
        return make_document(url=url, text=page.text, source_uri=source_uri, offset=offset,
                             ordinal=ordinal, fetch_time=fetch_time, headers=response.headers,
                             status=response.status, content_type=media_type or "text/html",
                             meta=page.meta, license_links=page.license_links)
    if media_type in _TEXT_TYPES or (not media_type and _is_utf8(body)):
        return make_document(url=url, text=decode_text(body, charset).strip(),
                             source_uri=source_uri, offset=offset, ordinal=ordinal,
                             fetch_time=fetch_time, headers=response.headers,
                             status=response.status, content_type=media_type or "text/plain")
    return ReadFailure(doc_id_for(source_uri, offset, ordinal), source_uri, offset, "not_text",
                       f"payload of type {media_type or 'unknown'} is not text", url or None)


@functools.lru_cache(maxsize=1024)  # a few Content-Type spellings cover most records
def _media_type_and_charset(content_type: str) -> tuple[str, str | None]:
    return content_type.split(";")[0].strip().lower(), charset_of(content_type)


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<!--"))


def _is_utf8(body: bytes) -> bool:
    try:
        body[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 65530  # a multi-byte character cut at the sample's end
    return True
