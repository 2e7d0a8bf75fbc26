"""The WARC reader on real files (shared/data/warc) and on constructed damage."""

from __future__ import annotations

import gzip
import io
from collections import Counter

import pytest

from clearcrawl.io.readers import read_shard
from clearcrawl.io.warc import RecordFailure, WarcRecord, iter_records
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record
from clearcrawl.records import Document, ReadFailure

# Files the independent reader (warcio) cannot read to the end, with what ours must report.
MALFORMED = {
    "resiliparse-fastwarc/clipped.warc.gz": {"truncated_gzip": 1},
    # warcio gives up on these two; fastwarc, like us, reads one response from each.
    "warcio/example-bad-non-chunked.warc.gz": {"record": 1},
    "warcio/example-wrong-chunks.warc.gz": {"record": 1},
}


def _real_files(root):
    files = []
    for pattern in ("**/*.warc", "**/*.warc.gz", "**/*.wet", "**/*.wet.gz"):
        files += root.glob(pattern)
    return sorted(set(files))


def _warcio_count(path):
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        return sum(r.rec_type in ("response", "conversion") for r in ArchiveIterator(fh))


def _ours(path):
    kinds = Counter()
    with open(path, "rb") as fh:
        for item in iter_records(fh):
            kinds["record" if isinstance(item, WarcRecord) else item.error_kind] += 1
    return kinds


def test_every_real_file_is_framed_and_agrees_with_warcio(shared_data):
    root = shared_data / "warc"
    files = _real_files(root)
    assert len(files) >= 25
    compared = 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        ours = _ours(path)
        if rel in MALFORMED:
            assert dict(ours) == MALFORMED[rel], rel
            continue
        expected = _warcio_count(path)
        assert ours == Counter({"record": expected} if expected else {}), rel
        compared += 1
    assert compared >= 20


def _capture(url: str, text: str) -> bytes:
    body = f"<html><body><p>{text}</p></body></html>".encode()
    return warc_record("response", http_response(body), target_uri=url)


def _cc_file(n: int = 4) -> tuple[bytes, list[int]]:
    data, offsets = b"", []
    data += gzip_member(warc_record("warcinfo", b"software: test\r\n"))
    for i in range(n):
        data += gzip_member(warc_record("request", b"GET / HTTP/1.1\r\n\r\n"))
        offsets.append(len(data))
        data += gzip_member(_capture(f"https://site{i}.example/", f"page {i}"))
    return data, offsets


def _items(data: bytes, **kw):
    return list(iter_records(io.BytesIO(data), **kw))


def test_offsets_are_gzip_member_starts():
    data, offsets = _cc_file()
    items = _items(data)
    assert [i.offset for i in items] == offsets
    assert all(isinstance(i, WarcRecord) for i in items)


def test_corrupt_member_is_one_failure_and_reading_resumes():
    data, offsets = _cc_file()
    broken = bytearray(data)
    broken[offsets[1] + 40] ^= 0xFF  # inside the deflate stream of record 1
    items = _items(bytes(broken))
    kinds = [(type(i).__name__, i.offset) for i in items]
    assert ("RecordFailure", offsets[1]) in kinds
    assert [i.offset for i in items if isinstance(i, WarcRecord)] == [
        offsets[0], offsets[2], offsets[3]]


def test_truncated_file_reports_the_cut_record():
    data, offsets = _cc_file()
    items = _items(data[: offsets[3] + 30])
    assert [i.offset for i in items if isinstance(i, WarcRecord)] == offsets[:3]
    failures = [i for i in items if isinstance(i, RecordFailure)]
    assert [(f.offset, f.error_kind) for f in failures] == [(offsets[3], "truncated_gzip")]


def test_garbage_between_members_is_reported_not_fatal():
    data, offsets = _cc_file()
    garbage = b"this is not gzip at all" * 3
    mixed = data[: offsets[2]] + garbage + data[offsets[2]:]
    items = _items(mixed)
    assert sum(isinstance(i, WarcRecord) for i in items) == 4
    failures = [i for i in items if isinstance(i, RecordFailure)]
    assert [(f.offset, f.error_kind) for f in failures] == [(offsets[2], "garbage")]


def test_record_over_the_limit_is_an_error_and_the_next_is_read():
    big = warc_record("response", http_response(b"<p>" + b"x" * 50_000 + b"</p>"),
                      target_uri="https://big.example/")
    small = _capture("https://small.example/", "fine")
    items = _items(big + small, max_record_bytes=10_000)
    assert isinstance(items[0], RecordFailure) and items[0].error_kind == "record_too_large"
    assert items[0].target_uri == "https://big.example/"
    assert isinstance(items[1], WarcRecord) and items[1].offset == len(big)


def test_plain_warc_with_damaged_header_resyncs():
    first = _capture("https://a.example/", "one")
    second = _capture("https://b.example/", "two").replace(b"WARC/1.0", b"WXRC/1.0", 1)
    third = _capture("https://c.example/", "three")
    items = _items(first + second + third)
    assert [type(i).__name__ for i in items] == ["WarcRecord", "RecordFailure", "WarcRecord"]
    assert items[1].offset == len(first) and items[1].error_kind == "bad_warc_header"
    assert items[2].headers["warc-target-uri"] == "https://c.example/"


def test_wrong_content_length_loses_nothing_silently():
    good = _capture("https://a.example/", "one")
    short = good.replace(b"Content-Length: ", b"Content-Length: 1", 1)  # claims far more
    items = _items(short + _capture("https://b.example/", "two"))
    assert items, "something must be reported"
    assert all(isinstance(i, RecordFailure) for i in items[:1])


def test_reader_yields_one_element_per_record_with_doc_ids(tmp_path):
    data, offsets = _cc_file(3)
    path = tmp_path / "x.warc.gz"
    path.write_bytes(data[: offsets[2] + 20])
    items = list(read_shard(str(path), lambda u: open(u, "rb")))
    assert [type(i) for i in items] == [Document, Document, ReadFailure]
    assert len({i.doc_id for i in items}) == 3
    assert items[0].url == "https://site0.example/" and items[0].text == "page 0"
    assert items[0].registered_domain == "site0.example"


@pytest.mark.parametrize("payload,kind", [(b"", None), (b"\x89PNG\r\n\x1a\n" + bytes(300), "not_text")])
def test_empty_and_binary_payloads_are_accounted(tmp_path, payload, kind):
    body = http_response(payload, {"Content-Type": "image/png" if kind else "text/html"})
    path = tmp_path / "y.warc"
    path.write_bytes(warc_record("response", body, target_uri="https://i.example/a"))
    items = list(read_shard(str(path), lambda u: open(u, "rb")))
    assert len(items) == 1
    if kind:
        assert isinstance(items[0], ReadFailure) and items[0].error_kind == kind
    else:
        assert isinstance(items[0], Document) and items[0].text == ""


@pytest.mark.parametrize("block", [
    b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 5",
    b"WARC/1.0\r\nWARC-Type: response\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5",  # repeated
    b"WARC/1.0\r\nWARC-Type: response\r\nX-A: one\r\n  two\r\nContent-Length: 5",  # folded
    b"WARC/1.0\r\nWARC-Type: response\r\nX-A: caf\xc3\xa9\x1c\r\nContent-Length: 5",
    b"WARC/1.0\r\n no colon\r\n\r\n: empty\r\nA :\x0b b \x1f\r\r\nContent-Length: 5",
    b"WARC/1.0",
])
def test_fast_header_parse_equals_the_line_parser(block):
    from clearcrawl.io.warc import _header_dict, _parse_headers

    assert list(_header_dict(block).items()) == list(_parse_headers(block)[1].items())
    assert list(_header_dict(bytearray(block)).items()) == list(_parse_headers(block)[1].items())


def _nondoc(header_lines: bytes, payload: bytes = b"x" * 10) -> bytes:
    return b"WARC/1.0\r\n" + header_lines + b"\r\n" + payload + b"\r\n\r\n"


@pytest.mark.parametrize("record", [
    _nondoc(b"WARC-Type: request\r\nContent-Length: 10\r\n"),
    # Unusual forms take the full parse and must frame the same extent.
    _nondoc(b"WARC-Type: request\r\nContent-Length: 10\r\ncontent-length: 99\r\n"),
    _nondoc(b"WARC-Type: request\r\nContent-Length:\r\n 10\r\n"),
    _nondoc(b"warc-type :  Metadata\r\nContent-Length: +10\r\n"),
    _nondoc(b"WARC-Type: request\r\nContent-Length: 1_0\r\n"),
])
def test_non_document_records_are_skipped_in_every_form(record):
    follow = _capture("https://after.example/", "after")
    for data in (record + follow, gzip_member(record) + gzip_member(follow),
                 gzip.compress(record + follow)):
        items = _items(data)
        assert [type(i).__name__ for i in items] == ["WarcRecord"], items
        assert items[0].headers["warc-target-uri"] == "https://after.example/"
