"""Whole-pipeline benchmark on real pages: the HTTP responses of shared/data's WARC files
(real sites, mostly not in English, about 42 KB of HTML a page), each re-issued many
times with ?copy=FILE-N added to its URL and its own record ids, against a bare warcio
iteration over the same files. The synthetic crawl of bench/pipeline.py has Common
Crawl's text a page but pages 4 to 16 times smaller than real ones; this crawl has real
pages' markup, charsets and punctuation (no-break spaces, full-width commas). The
material is read in place from shared/data and written only to a temporary folder."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from pipeline import measure_crawl

# Real pages, read in place: (folder under shared/data/warc, file).
SOURCES = [("dolma", "sample-0000.warc.gz"), ("dolma", "sample-0001.warc.gz"),
           ("resiliparse-fastwarc", "warcfile.warc.gz"),
           ("commoncrawl-whirlwind", "whirlwind.warc.gz"), ("jwarc", "cc.warc.gz")]


def real_responses(shared: Path) -> list[tuple[str, str, bytes, bytes]]:
    """(target URI, WARC-Date, HTTP header block, payload) of every response in
    SOURCES; [] where the shared data is absent. Payloads are as warcio decodes them, so
    their transfer and content encodings are dropped from the headers."""
    from warcio.archiveiterator import ArchiveIterator

    found = []
    for folder, name in SOURCES:
        path = shared / "warc" / folder / name
        if not path.is_file():
            return []
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                headers = record.http_headers
                for name_ in ("Transfer-Encoding", "Content-Encoding"):
                    headers.remove_header(name_)
                body = record.content_stream().read()
                headers.replace_header("Content-Length", str(len(body)))
                found.append((record.rec_headers.get_header("WARC-Target-URI"),
                              record.rec_headers.get_header("WARC-Date"),
                              headers.to_bytes(), body))
    return found


def real_texts(shared: Path) -> list[str]:
    """The distinct texts of SOURCES' pages as the pipeline's reader extracts them (for
    the MinHash row); [] where the shared data is absent."""
    from clearcrawl.io.readers import read_shard
    from clearcrawl.records import Document

    paths = [shared / "warc" / folder / name for folder, name in SOURCES]
    if not all(path.is_file() for path in paths):
        return []
    texts: dict[str, None] = {}
    for path in paths:
        for item in read_shard(str(path), lambda uri: open(uri, "rb"), 64 << 20):
            if isinstance(item, Document) and item.text:
                texts[item.text] = None
    return list(texts)


def write_real_crawl(folder: Path, responses: list, files: int, copies: int) -> list[str]:
    """`files` gzip WARCs, each holding every response `copies` times (a request record
    before each), every copy with its own URL (?copy=FILE-N) and record ids."""
    from warcio.statusandheaders import StatusAndHeadersParser
    from warcio.warcwriter import WARCWriter

    parser = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(files):
        path = folder / f"real-{number:05d}.warc.gz"
        with open(path, "wb") as out:
            writer = WARCWriter(out, gzip=True)
            for copy in range(copies):
                for url, date, header_block, body in responses:
                    uri = f"{url}{'&' if '?' in url else '?'}copy={number}-{copy}"
                    dated = {"WARC-Date": date}
                    writer.write_record(writer.create_warc_record(
                        uri, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
                        warc_headers_dict=dated))
                    writer.write_record(writer.create_warc_record(
                        uri, "response", payload=io.BytesIO(body), warc_headers_dict=dated,
                        http_headers=parser.parse(io.BytesIO(header_block))))
        paths.append(str(path))
    return paths


def bench_real_pages(shared: Path, files: int = 8, copies: int = 90) -> dict | None:
    """Plain run and one process against warcio and fastwarc (measure_crawl), or None
    without the shared data."""
    responses = real_responses(shared)
    if not responses:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_real_crawl(Path(tmp) / "crawl", responses, files, copies)
        result = measure_crawl(f"{tmp}/crawl", paths, len(responses) * files * copies,
                               robots=False)
    mean_html = sum(len(body) for *_, body in responses) / len(responses)
    return {**result, "distinct_pages": len(responses), "mean_html_bytes": round(mean_html)}
