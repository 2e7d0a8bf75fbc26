"""Read one crawl shard, yielding a Document or a ReadFailure for every record.

Formats are recognised by extension (a contract): `.warc(.gz)`, `.wet(.gz)`,
`.jsonl(.gz|.zst)`, `.parquet`. Every record read yields exactly one element,
so the ledger can account for all of them; a file that cannot be opened at all
yields one failure at offset 0.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from typing import BinaryIO

from clearcrawl.core.ids import doc_id_for
from clearcrawl.io.documents import document_from_warc, make_document, parse_time
from clearcrawl.io.parquet import iter_rows
from clearcrawl.io.warc import DEFAULT_MAX_RECORD_BYTES, RecordFailure, iter_records
from clearcrawl.records import Document, ReadFailure

Opener = Callable[[str], BinaryIO]

WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
PARQUET_SUFFIXES = (".parquet",)
ALL_SUFFIXES = WARC_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES
PARQUET_BATCH_ROWS = 1024


def format_of(uri: str) -> str | None:
    lower = uri.lower()
    if lower.endswith(WARC_SUFFIXES):
        return "warc"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def read_shard(uri: str, opener: Opener,
               max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
               ) -> Iterator[Document | ReadFailure]:
    fmt = format_of(uri)
    try:
        fh = opener(uri)
    except Exception as exc:  # noqa: BLE001 - any open failure is reported, not raised
        yield _failure(uri, 0, "unreadable_file", f"cannot open: {exc}")
        return
    with fh:
        try:
            if fmt == "warc":
                yield from _read_warc(uri, fh, max_record_bytes)
            elif fmt == "jsonl":
                yield from _read_jsonl(uri, fh, max_record_bytes)
            elif fmt == "parquet":
                yield from _read_parquet(uri, fh)
            else:
                yield _failure(uri, 0, "unknown_format", "file extension is not a known format")
        except _FileFailure as exc:
            yield exc.failure


class _FileFailure(Exception):
    def __init__(self, failure: ReadFailure):
        super().__init__(failure.message)
        self.failure = failure


def _failure(uri: str, offset: int, kind: str, message: str, ordinal: int = 0,
             url: str | None = None) -> ReadFailure:
    return ReadFailure(doc_id_for(uri, offset, ordinal), uri, offset, kind, message[:2000], url)


def _read_warc(uri: str, fh: BinaryIO, max_record_bytes: int) -> Iterator[Document | ReadFailure]:
    for item in iter_records(fh, max_record_bytes):
        if isinstance(item, RecordFailure):
            yield _failure(uri, item.offset, item.error_kind, item.message, item.ordinal,
                           item.target_uri)
            continue
        try:
            yield document_from_warc(item, uri)
        except Exception as exc:  # noqa: BLE001 - one bad record never ends the file
            yield _failure(uri, item.offset, "bad_record", f"{type(exc).__name__}: {exc}",
                           item.ordinal, item.headers.get("warc-target-uri"))


def _open_line_stream(uri: str, fh: BinaryIO) -> BinaryIO:
    """A readline()-able stream. Small decode buffers: when the compressed tail is
    damaged, every line decoded before the damage is still delivered."""
    lower = uri.lower()
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=fh)
    if lower.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(fh), 1 << 16)
    return io.BufferedReader(fh, 1 << 20) if not hasattr(fh, "readline") else fh


def _read_jsonl(uri: str, fh: BinaryIO, max_record_bytes: int) -> Iterator[Document | ReadFailure]:
    stream = _open_line_stream(uri, fh)
    offset = 0
    while True:
        try:
            line = stream.readline(max_record_bytes + 1)
        except (OSError, EOFError, ValueError) as exc:
            # Corrupt or truncated compression: the rest of the file is unreadable.
            yield _failure(uri, offset, "corrupt_compression", f"{type(exc).__name__}: {exc}")
            return
        if not line:
            return
        start, offset = offset, offset + len(line)
        if len(line) > max_record_bytes and not line.endswith(b"\n"):
            while True:  # skip the rest of the oversized line without holding it
                rest = stream.readline(1 << 20)
                offset += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield _failure(uri, start, "record_too_large",
                           f"JSON line longer than {max_record_bytes} bytes")
            continue
        if not line.strip():
            continue
        yield _document_from_json(uri, start, line)


def _document_from_json(uri: str, offset: int, line: bytes) -> Document | ReadFailure:
    try:
        obj = json.loads(line.decode("utf-8", "replace"))
    except ValueError as exc:
        return _failure(uri, offset, "bad_json", f"line is not JSON: {exc}")
    if not isinstance(obj, dict):
        return _failure(uri, offset, "bad_json", "line is not a JSON object")
    return _document_from_fields(uri, offset, obj)


def _document_from_fields(uri: str, offset: int, obj: dict) -> Document | ReadFailure:
    """FineWeb / Dolma style fields: text, url (or a URL id), id, date."""
    text = obj.get("text")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    url = obj.get("url") or metadata.get("url")
    ident = obj.get("id")
    if not url and isinstance(ident, str) and ident.startswith(("http://", "https://")):
        url = ident
    if not isinstance(text, str):
        return _failure(uri, offset, "missing_text", "record has no string field 'text'",
                        url=url if isinstance(url, str) else None)
    date = obj.get("date") or obj.get("created") or metadata.get("date_download")
    if hasattr(date, "isoformat"):  # Parquet timestamp columns
        date = date.isoformat()
    return make_document(url=str(url or ""), text=text, source_uri=uri, offset=offset,
                         fetch_time=parse_time(date if isinstance(date, str) else None))


def _read_parquet(uri: str, fh: BinaryIO) -> Iterator[Document | ReadFailure]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(fh)
    except Exception as exc:  # noqa: BLE001
        raise _FileFailure(_failure(uri, 0, "bad_parquet", f"not a Parquet file: {exc}")) from None
    wanted = [c for c in ("text", "url", "id", "date", "metadata") if c in parquet.schema_arrow.names]
    row = 0
    try:
        for rows in iter_rows(parquet, PARQUET_BATCH_ROWS, wanted):
            for obj in rows:
                yield _document_from_fields(uri, row, obj)
                row += 1
    except Exception as exc:  # noqa: BLE001 - a corrupt row group ends the file, reported
        yield _failure(uri, row, "bad_parquet", f"row group unreadable: {exc}")
