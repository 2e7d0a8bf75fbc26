"""JSONL and Parquet readers: real Dolma JSONL files and FineWeb-style Parquet."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from clearcrawl.io.readers import read_shard
from clearcrawl.records import Document, ReadFailure


def _read(path):
    return list(read_shard(str(path), lambda u: open(u, "rb")))


def test_real_dolma_jsonl_one_document_per_line(shared_data):
    for path in sorted((shared_data / "jsonl" / "dolma-cc-docs").glob("*.jsonl.gz")):
        lines = [line for line in gzip.open(path).read().splitlines() if line.strip()]
        items = _read(path)
        assert len(items) == len(lines) > 0
        assert all(isinstance(i, Document) for i in items)
        first = json.loads(lines[0])
        assert items[0].url == first["id"]  # Dolma keeps the URL in `id`
        assert items[0].text == first["text"]
        assert items[0].fetch_time is not None


def test_jsonl_bad_lines_become_failures_with_offsets(tmp_path):
    lines = [b'{"url": "https://a.example/", "text": "one"}\n', b"{not json\n",
             b'{"url": "https://b.example/"}\n', b'["array"]\n', b"\n",
             b'{"url": "https://c.example/", "text": "bad \xff utf8", "date": "2024-05-01"}\n']
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"".join(lines))
    items = _read(path)
    kinds = [i.error_kind if isinstance(i, ReadFailure) else "doc" for i in items]
    assert kinds == ["doc", "bad_json", "missing_text", "bad_json", "doc"]
    assert items[1].source_offset == len(lines[0])
    assert items[4].fetch_time.isoformat() == "2024-05-01T00:00:00+00:00"


def test_jsonl_zst_and_truncated_gzip(tmp_path):
    body = b"".join(json.dumps({"url": f"https://s{i}.example/", "text": f"t{i}"}).encode()
                    + b"\n" for i in range(3000))
    zst = tmp_path / "a.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(body))
    assert sum(isinstance(i, Document) for i in _read(zst)) == 3000
    cut = tmp_path / "b.jsonl.gz"
    cut.write_bytes(gzip.compress(body)[:-30])
    items = _read(cut)
    assert isinstance(items[-1], ReadFailure) and items[-1].error_kind == "corrupt_compression"
    # Everything decoded before the damaged tail is delivered (all but the last block).
    assert all(isinstance(i, Document) for i in items[:-1]) and len(items) > 2500


def test_oversized_jsonl_line_is_skipped_not_held(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"text": "' + b"x" * 5000 + b'"}\n{"url": "https://ok.example/", "text": "k"}\n')
    items = list(read_shard(str(path), lambda u: open(u, "rb"), max_record_bytes=1000))
    assert [type(i) for i in items] == [ReadFailure, Document]
    assert items[0].error_kind == "record_too_large" and items[1].source_offset == 5013


def test_fineweb_style_parquet(tmp_path):
    table = pa.table({"text": ["alpha", "beta", None], "id": ["<urn:1>", "<urn:2>", "<urn:3>"],
                      "url": ["https://a.example/1", "https://b.example/2", "https://c.example/"],
                      "date": ["2024-01-02T03:04:05Z", None, "2024-01-01"]})
    path = tmp_path / "f.parquet"
    pq.write_table(table, path, row_group_size=2)
    items = _read(path)
    assert [type(i) for i in items] == [Document, Document, ReadFailure]
    assert [i.source_offset for i in items] == [0, 1, 2]
    assert items[0].url == "https://a.example/1" and items[0].fetch_time.year == 2024


def test_not_parquet_is_one_failure(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"definitely not parquet")
    items = _read(path)
    assert len(items) == 1 and items[0].error_kind == "bad_parquet"


# (url field of a JSONL record, host of the Document, or None for a `no_host` failure)
HOSTLESS_ROWS = [
    ("https://torrent-index.example:99999/x", "torrent-index.example"),  # WHATWG: host kept
    ("http://[torrent-index.example/x", "torrent-index.example"),
    ("https://faß.de/", "xn--fa-hia.de"),                                # UTS-46
    ("", None),                                                          # no URL at all
    ("/relative/only", None),                                            # no scheme
    ("https://?q=1", None),                                              # empty host
    ("mailto:editor@torrent-index.example", None),                       # no authority
]


def test_a_record_without_a_host_is_a_no_host_failure(tmp_path):
    path = tmp_path / "hosts.jsonl"
    path.write_text("".join(json.dumps({"url": url, "text": "t"}) + "\n"
                            for url, _ in HOSTLESS_ROWS), encoding="utf-8")
    items = _read(path)
    assert len(items) == len(HOSTLESS_ROWS)
    for item, (url, host) in zip(items, HOSTLESS_ROWS):
        if host is None:
            assert isinstance(item, ReadFailure) and item.error_kind == "no_host", url
            assert item.url == (url or None) and "no host" in item.message
        else:
            assert isinstance(item, Document) and item.host == host, url


def test_http_headers_parse_the_same_ascii_or_not():
    from clearcrawl.io.http import parse_response

    head = (b"HTTP/1.1 200 OK\r\nContent-Type:\x1c text/html \x0b\r\nX-Odd : \tv\x1f\r\n"
            b"no colon line\r\nTransfer-Encoding: Chunked\r\nContent-Encoding: identity\r\n")
    ascii_response = parse_response(head + b"\r\n3\r\nabc\r\n0\r\n\r\n")
    assert ascii_response.headers == (
        ("content-type", "\x1c text/html"), ("x-odd", "v\x1f"),
        ("transfer-encoding", "Chunked"), ("content-encoding", "identity"))
    assert ascii_response.body == b"abc"
    other = parse_response(head + b"X-Name: caf\xc3\xa9 \xff\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert other.headers == ascii_response.headers + (("x-name", "café \ufffd"),)
    assert other.status == 200 and other.body == b"abc"
