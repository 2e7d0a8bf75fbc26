"""Lenient parsing of the HTTP response stored in a WARC response record."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

MAX_DECODED_BYTES = 64 * 1024 * 1024  # decompression-bomb bound for encoded bodies
# What bytes.strip() strips; str.strip() alone would also strip \x1c-\x1f.
ASCII_SPACE = " \t\n\r\x0b\x0c"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int | None
    # (lower-cased name, value) per header line, in order: repeated headers stay apart
    headers: tuple[tuple[str, str], ...]
    body: bytes


def parse_response(payload: bytes) -> HttpResponse:
    """Split status line, headers and body; undo chunking and content encodings.

    Web input is parsed leniently: a payload that is not HTTP is returned as a
    body with no status, and a body that fails to decode is kept as stored.
    """
    if not payload.startswith(b"HTTP/"):
        return HttpResponse(None, (), payload)
    end, sep = payload.find(b"\r\n\r\n"), 4
    if end < 0:
        end, sep = payload.find(b"\n\n"), 2
    if end < 0:
        end, sep = len(payload), 0
    head = payload[:end]
    status_end = head.find(b"\n")
    status_parts = head[:status_end if status_end >= 0 else end].split(None, 2)
    status = None
    if len(status_parts) > 1 and status_parts[1][:3].isdigit():
        status = int(status_parts[1][:3])
    if head.isascii():
        headers = _ascii_headers(head.decode("ascii").split("\n")[1:])
    else:
        headers = []
        for raw in head.split(b"\n")[1:]:
            name, colon, value = raw.rstrip(b"\r").partition(b":")
            if not colon:
                continue
            headers.append((name.strip().lower().decode("latin-1"),
                            value.strip().decode("utf-8", "replace")))
    body = payload[end + sep:]
    chunked, encodings = False, []
    for name, value in headers:
        if name == "transfer-encoding":
            chunked = chunked or "chunked" in value.lower()
        elif name == "content-encoding":
            encodings.append(value)
    if chunked:
        body = _dechunk(body)
    encoding = ", ".join(encodings).strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate", "br"):
        body = _decode_body(body, encoding)
    return HttpResponse(status, tuple(headers), body)


def _ascii_headers(lines: list[str]) -> list[tuple[str, str]]:
    """The header pairs of an all-ASCII head, split as str: the same pairs as the bytes
    path, with one decode for the block instead of two a line. Only the whitespace
    bytes.strip() takes is stripped (str.strip() would also take \\x1c-\\x1f)."""
    headers = []
    for raw in lines:
        name, colon, value = raw.rstrip("\r").partition(":")
        if colon:
            headers.append((name.strip(ASCII_SPACE).lower(), value.strip(ASCII_SPACE)))
    return headers


def _dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(body):
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return body  # not really chunked: keep as stored
        try:
            size = int(body[pos:line_end].split(b";")[0].strip(), 16)
        except ValueError:
            return body
        if size == 0:
            break
        out += body[line_end + 2:line_end + 2 + size]
        pos = line_end + 2 + size + 2
    return bytes(out)


def _decode_body(body: bytes, encoding: str) -> bytes:
    try:
        if encoding == "br":
            import brotli

            decoded = brotli.decompress(body)
            return decoded if len(decoded) <= MAX_DECODED_BYTES else body
        wbits = 47 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        inflater = zlib.decompressobj(wbits)
        decoded = inflater.decompress(body, MAX_DECODED_BYTES)
        return decoded if not inflater.unconsumed_tail else body
    except Exception:  # noqa: BLE001 - a body that does not decode is kept as stored
        return body
