"""Streaming WARC record framing that never loses a record silently.

Common Crawl WARC/WET files are one gzip member per record; other tools write a
single gzip stream, or plain WARC. This reader handles all three in constant
memory and reports, for every record, the byte offset a user can seek to: the
start of the gzip member holding the record (as in Common Crawl's index), or the
record's own offset in a plain file.

Anything unreadable becomes a `RecordFailure` with its offset and kind instead of
ending the file: a corrupt or truncated gzip member, a bad WARC header, a wrong
Content-Length, a record above the size limit, or garbage between records. After
a failure the reader resynchronises at the next gzip member or `WARC/1.` line.

We frame records ourselves rather than use fastwarc/warcio because both stop or
skip silently on some of the real malformed files in shared/data/warc, and the
ledger must account for every record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

# zlib-ng: the same inflate, 1.6x faster than CPython's zlib on per-record members.
from zlib_ng import zlib_ng as zlib

from clearcrawl.io.http import ASCII_SPACE

GZIP_MAGIC = b"\x1f\x8b\x08"
READ_CHUNK = 1 << 18
_FEED_BYTES = 8192
MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
_PADDING = b"\r\n\x00 \t"

# Record types that carry a document; only these become ledger rows.
DOCUMENT_TYPES = frozenset({b"response", b"conversion"})


@dataclass(frozen=True, slots=True)
class WarcRecord:
    offset: int
    ordinal: int  # index of the record within its gzip member (0 for CC-style files)
    record_type: str
    headers: dict[str, str]  # lower-cased names; first occurrence wins
    payload: bytes


@dataclass(frozen=True, slots=True)
class RecordFailure:
    offset: int
    ordinal: int
    error_kind: str
    message: str
    target_uri: str | None = None


class _Break(Exception):
    """The decoded stream has a hole here (corrupt or truncated gzip member)."""

    def __init__(self, offset: int, kind: str, message: str):
        super().__init__(message)
        self.offset, self.kind, self.message = offset, kind, message


class _DecodedStream:
    """Decoded bytes of a plain or gzip file, with the source offset of each byte.

    For gzip input, `_members` maps decoded positions to the offset of the member
    holding them (iter_records reads it once a record). A corrupt member raises `_Break` from `fill`; `resume`
    then skips to the next member and decoding continues.
    """

    def __init__(self, fh: BinaryIO, is_gzip: bool):
        self._fh = fh
        self._gzip = is_gzip
        self.buf = bytearray()
        self.base = 0  # decoded position of buf[0]
        self.eof = False
        self._members: list[tuple[int, int]] = []  # gzip: (decoded position, member offset)
        # Compressed bytes read: _raw[_off:] are not decoded yet; _raw_pos is the file
        # offset of _raw[0]. An index rather than slicing: members are a few KB and a
        # read is 256 KB, so slicing would copy the read once per member.
        self._raw = b""
        self._off = 0
        self._raw_pos = 0
        self._inflater = None
        self._member_start = 0
        self._broken: _Break | None = None

    # -- decoding ----------------------------------------------------------
    def _read_raw(self) -> bool:
        chunk = self._fh.read(READ_CHUNK)
        if not chunk:
            return False
        self._raw_pos += self._off
        self._raw = self._raw[self._off:] + chunk
        self._off = 0
        return True

    def _decode_more(self) -> None:
        """Append some decoded bytes to buf, or set eof, or raise _Break."""
        self.buf += self._decode_step()

    def _decode_step(self) -> bytes:
        """The bytes one step decodes (maybe none), or set eof, or raise _Break."""
        if not self._gzip:
            chunk = self._fh.read(READ_CHUNK)
            if not chunk:
                self.eof = True
            return chunk
        if self._inflater is None:
            # Between members: skip padding, expect the gzip magic.
            while len(self._raw) - self._off < 3 and self._read_raw():
                pass
            if len(self._raw) == self._off:
                self.eof = True
                return b""
            if not self._raw.startswith(GZIP_MAGIC, self._off):
                stripped = self._raw[self._off:].lstrip(b"\x00\r\n ")
                if not stripped and not self._read_raw():
                    self.eof = True  # trailing padding only
                    return b""
                if not stripped:
                    return b""
                offset = self._raw_pos + self._off
                self._skip_to_next_member(offset + 1)
                raise _Break(offset, "garbage", "bytes between gzip members are not a gzip member")
            self._member_start = self._raw_pos + self._off
            self._members.append((self.base + len(self.buf), self._member_start))
            self._inflater = zlib.decompressobj(31)
        inflater = self._inflater
        if len(self._raw) == self._off and not self._read_raw():
            self._inflater = None
            self.eof = True
            raise _Break(self._member_start, "truncated_gzip", "file ends inside a gzip member")
        # Small input windows: zlib copies what is left of the input when a member ends.
        window = memoryview(self._raw)[self._off:self._off + _FEED_BYTES]
        try:
            out = inflater.decompress(window, READ_CHUNK)
        except zlib.error as exc:
            self._inflater = None
            start = self._member_start
            self._skip_to_next_member(start + 1)
            raise _Break(start, "corrupt_gzip", f"gzip member does not decompress: {exc}") from None
        if inflater.eof:
            self._off += len(window) - len(inflater.unused_data)
            self._inflater = None
        else:
            self._off += len(window) - len(inflater.unconsumed_tail)
        return out

    def _skip_to_next_member(self, from_offset: int) -> None:
        """Position the raw reader at the next gzip magic at or after from_offset."""
        self._fh.seek(from_offset)
        self._raw_pos, self._raw, self._off = from_offset, b"", 0
        carry = b""
        while True:
            chunk = self._fh.read(READ_CHUNK)
            if not chunk:
                self._raw_pos += len(carry)
                return
            window = carry + chunk
            found = window.find(GZIP_MAGIC)
            if found >= 0:
                self._raw = window[found:]
                self._raw_pos += found
                return
            keep = min(len(window), 2)
            self._raw_pos += len(window) - keep
            carry = window[-keep:]

    # -- parser interface ----------------------------------------------------
    def fill(self, size: int) -> bool:
        """Ensure `size` bytes are buffered; False at end of file."""
        if self._broken:
            raise self._broken
        while len(self.buf) < size and not self.eof:
            try:
                self._decode_more()
            except _Break as brk:
                self._broken = brk
                raise
        return len(self.buf) >= size

    def resume(self) -> None:
        """Drop what was buffered before a break and continue decoding after it."""
        self.base += len(self.buf)
        self.buf = bytearray()
        self._broken = None

    def consume(self, size: int) -> None:
        del self.buf[:size]
        self.base += size

    def find(self, needle: bytes, start: int, limit: int) -> int:
        """Index of needle in buf at or after start, reading up to `limit` bytes."""
        while True:
            idx = self.buf.find(needle, start)
            if idx >= 0 or len(self.buf) >= limit or self.eof:
                return idx
            searched = max(start, len(self.buf) - len(needle))
            self.fill(len(self.buf) + READ_CHUNK)
            start = searched


def _parse_headers(block: bytes) -> tuple[str, dict[str, str]]:
    lines = block.split(b"\n")
    version = lines[0].strip().decode("latin-1")
    headers: dict[str, str] = {}
    last = None
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and last:  # folded continuation line
            headers[last] += " " + line.strip().decode("utf-8", "replace")
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower().decode("latin-1")
        if key not in headers:
            headers[key] = value.strip().decode("utf-8", "replace")
        last = key
    return version, headers


# One header line after the version line: name up to the first colon, value to the end.
_FIELD = re.compile(r"^([^:\n]*):(.*)$", re.MULTILINE)
# A folded (continuation) line starts with a space or tab.
_FOLDED = re.compile(rb"\n[ \t]")


def _header_dict(block: bytes | bytearray) -> dict[str, str]:
    """`_parse_headers(block)[1]`, by one regex pass when the block is plain ASCII with
    no folded lines and no repeated names (then both decodings and first-wins agree)."""
    if block.isascii() and not _FOLDED.search(block):
        text = block.decode("ascii")
        start = text.find("\n")
        if start >= 0:
            fields = _FIELD.findall(text, start + 1)
            headers = {name.strip(ASCII_SPACE).lower(): value.strip(ASCII_SPACE) for name, value in fields}
            if len(headers) == len(fields):
                return headers
        else:
            return {}
    return _parse_headers(bytes(block))[1]


# Types framed and skipped; for these only the length matters.
_SKIPPED_TYPES = frozenset({b"request", b"metadata", b"warcinfo", b"revisit", b"resource"})


def _skipped_length(low: bytearray) -> int | None:
    """Content-Length of a plainly written non-document record, from its lower-cased
    header block; None when the block needs the full parse (any doubt)."""
    if _FOLDED.search(low):
        return None
    # The first header line is the first occurrence of its name.
    line = low.find(b"\n") + 1
    if not line or not low.startswith(b"warc-type:", line):
        return None
    eol = low.find(b"\n", line)
    if bytes(low[line + 10:eol if eol >= 0 else len(low)].strip()) not in _SKIPPED_TYPES:
        return None
    # A single "content-length" anywhere: no other line can carry that name.
    at = low.find(b"content-length")
    if at < 1 or low[at - 1] != 10 or low[at + 14:at + 15] != b":" \
            or low.find(b"content-length", at + 1) >= 0:
        return None
    eol = low.find(b"\n", at)
    value = low[at + 15:eol if eol >= 0 else len(low)].strip()
    if not value.isdigit():
        return None
    return int(value)

_SKIPPED = object()


def _whole_member(out: bytes, stream: _DecodedStream, max_record_bytes: int):
    """Frame the record at the start of a fully decoded member, as iter_records would
    from a buffer holding just `out`; None to leave `out` to the general path.

    Returns _SKIPPED for a record that yields nothing, else a function of (offset,
    ordinal) making the yielded item. Consumes the record (and padding after it)."""
    end = out.find(b"\r\n\r\n")
    if end < 0:
        return None
    body_start = end + 4
    block = out[:end]
    length = _skipped_length(block.lower())
    if length is None:
        headers = _header_dict(block)
        length = _content_length(headers)
        if length is None:
            return None
        record_type = headers.get("warc-type", "").lower()
        counted = record_type.encode() in DOCUMENT_TYPES or not record_type
    else:
        counted = False
    stop = body_start + length
    if length > max_record_bytes or stop > len(out):
        return None
    rest = out[stop:]
    if rest.lstrip(_PADDING):
        stream.base += stop
        stream.buf += rest
    else:
        stream.base += len(out)
    if not counted:
        return _SKIPPED
    target = headers.get("warc-target-uri")
    if record_type:
        payload = out[body_start:stop]
        return lambda offset, ordinal: WarcRecord(offset, ordinal, record_type, headers, payload)
    return lambda offset, ordinal: RecordFailure(offset, ordinal, "bad_warc_header",
                                                 "WARC record has no WARC-Type", target)


def iter_records(fh: BinaryIO, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 ) -> Iterator[WarcRecord | RecordFailure]:
    """Yield every document record (response, conversion) or failure of a WARC file.

    Records of other types (warcinfo, request, metadata, revisit, resource) are
    framed and skipped: they are not documents.
    """
    head = fh.read(3)
    fh.seek(0)
    is_gzip = head.startswith(GZIP_MAGIC)
    stream = _DecodedStream(fh, is_gzip)
    members = stream._members
    last_offset, ordinal = -1, 0
    while True:
        current: tuple[int, int] | None = None
        try:
            buf = stream.buf
            if buf and len(buf) <= 64 and is_gzip and stream._inflater is None \
                    and not buf.lstrip(_PADDING):
                # Only padding is left of the member: what _skip_padding would drop.
                stream.consume(len(buf))
            if not buf and is_gzip and stream._inflater is None and not stream.eof:
                # At a gzip member boundary with nothing buffered (every record of a
                # Common Crawl file): when one decoding step yields the whole member and
                # it holds a whole record, frame it straight from that step's bytes.
                # The steps are the ones fill(1) makes, so failures stay the same.
                try:
                    out = stream._decode_step()
                except _Break as brk:
                    stream._broken = brk
                    raise
                if stream._inflater is None and out.startswith(b"WARC/"):
                    item = _whole_member(out, stream, max_record_bytes)
                    if item is not None:
                        pos = stream.base
                        while len(members) > 1 and members[1][0] <= pos:
                            del members[0]
                        offset = members[0][1]
                        if offset == last_offset:
                            ordinal += 1
                        else:
                            last_offset, ordinal = offset, 0
                        if item is not _SKIPPED:
                            yield item(offset, ordinal)
                        continue
                buf += out
            # The member offset and the ordinal within it, inlined:
            # they run once a record.
            if not buf and not stream.fill(1):
                return
            if buf[0] in _PADDING and not _skip_padding(stream):
                return
            pos = stream.base
            if is_gzip:
                while len(members) > 1 and members[1][0] <= pos:
                    del members[0]
                offset = members[0][1]
            else:
                offset = pos
            if offset == last_offset:
                ordinal += 1
            else:
                last_offset, ordinal = offset, 0
            current = offset, ordinal
            if len(buf) < 8:
                stream.fill(8)
            if not buf.startswith(b"WARC/"):
                yield _skip_garbage(stream, offset, ordinal)
                continue
            end, sep = buf.find(b"\r\n\r\n"), 4
            if end < 0:
                end = stream.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES)
            if end < 0:
                end, sep = stream.find(b"\n\n", 0, MAX_HEADER_BYTES), 2
            if end < 0:
                if stream.eof:
                    stream.consume(len(buf))
                    yield RecordFailure(offset, ordinal, "truncated_record",
                                        "file ends inside a WARC header")
                else:
                    yield _skip_garbage(stream, offset, ordinal, "bad_warc_header",
                                        f"WARC header longer than {MAX_HEADER_BYTES} bytes")
                continue
            body_start = end + sep
            block = buf[:end]
            length = _skipped_length(block.lower())
            if length is not None:
                # Not a document: only its extent matters (as below with counted False).
                if length > max_record_bytes:
                    _discard(stream, body_start + length)
                elif len(buf) >= body_start + length or stream.fill(body_start + length):
                    stream.consume(body_start + length)
                else:
                    stream.consume(len(buf))
                continue
            headers = _header_dict(block)
            record_type = headers.get("warc-type", "").lower()
            target = headers.get("warc-target-uri")
            length = _content_length(headers)
            if length is None:
                yield _skip_garbage(stream, offset, ordinal, "bad_warc_header",
                                    "WARC header has no valid Content-Length", skip=body_start)
                continue
            # Only document records (or records whose type we cannot tell) count.
            counted = record_type.encode() in DOCUMENT_TYPES or not record_type
            if length > max_record_bytes:
                complete = _discard(stream, body_start + length)
                if counted:
                    kind = "record_too_large" if complete else "truncated_record"
                    yield RecordFailure(offset, ordinal, kind,
                                        f"{record_type} record of {length} bytes exceeds the "
                                        f"{max_record_bytes}-byte limit", target)
                continue
            if len(buf) < body_start + length and not stream.fill(body_start + length):
                available = len(buf) - body_start
                stream.consume(len(buf))
                if counted:
                    yield RecordFailure(offset, ordinal, "truncated_record",
                                        f"file ends after {available} of {length} payload bytes",
                                        target)
                continue
            if counted and record_type:
                payload = bytes(buf[body_start:body_start + length])
                stream.consume(body_start + length)
                yield WarcRecord(offset, ordinal, record_type, headers, payload)
                continue
            stream.consume(body_start + length)
            if counted:
                yield RecordFailure(offset, ordinal, "bad_warc_header",
                                    "WARC record has no WARC-Type", target)
        except _Break as brk:
            # The record being framed (if any) is lost with the broken member:
            # report it once, at its own offset, then continue after the break.
            pending = bytes(stream.buf[:64]).lstrip(_PADDING)
            if current is None or not pending:
                if brk.offset == last_offset:
                    ordinal += 1
                else:
                    last_offset, ordinal = brk.offset, 0
                current = last_offset, ordinal
            yield RecordFailure(current[0], current[1], brk.kind, brk.message)
            stream.resume()


def _skip_padding(stream: _DecodedStream) -> bool:
    """Drop blank lines and NUL padding between records; False at end of file."""
    while True:
        if not stream.fill(1):
            return False
        if stream.buf[0] not in _PADDING:  # the usual case: a record starts here
            return True
        window = bytes(stream.buf[:4096])
        skipped = len(window) - len(window.lstrip(_PADDING))
        if skipped == 0:
            return True
        stream.consume(skipped)


def _content_length(headers: dict[str, str]) -> int | None:
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _discard(stream: _DecodedStream, upto: int) -> bool:
    """Consume `upto` bytes without holding them all; False if the file ended first."""
    remaining = upto
    while remaining > 0:
        if not stream.buf and not stream.fill(1):
            return False
        take = min(remaining, len(stream.buf))
        stream.consume(take)
        remaining -= take
        if remaining and not stream.fill(min(remaining, READ_CHUNK)) and not stream.buf:
            return False
    return True


def _skip_garbage(stream: _DecodedStream, offset: int, ordinal: int,
                  kind: str = "bad_warc_header",
                  message: str = "data where a WARC record header should start",
                  skip: int = 1) -> RecordFailure:
    """Report an unreadable region and move to the next line starting `WARC/1.`."""
    stream.consume(min(skip, len(stream.buf)))
    while True:
        idx = stream.buf.find(b"\nWARC/1.")
        if idx >= 0:
            stream.consume(idx + 1)
            break
        if stream.eof:
            stream.consume(len(stream.buf))
            break
        if len(stream.buf) > 8:  # keep a tail in case the marker straddles reads
            stream.consume(len(stream.buf) - 8)
        stream.fill(len(stream.buf) + READ_CHUNK)
    return RecordFailure(offset, ordinal, kind, message)
