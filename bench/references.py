"""The bare reference loops the pipeline is compared with: every response payload of the
files read, with warcio (pure Python) and with fastwarc (C++); and the extraction floor,
what no pipeline with the pipeline's own HTML to text can beat."""

from __future__ import annotations

import multiprocessing


def warcio_iteration(files: list[str]) -> int:
    from warcio.archiveiterator import ArchiveIterator

    total = 0
    for path in files:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    total += len(record.content_stream().read())
    return total


def fastwarc_iteration(files: list[str]) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    total = 0
    for path in files:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, record_types=WarcRecordType.response,
                                          parse_http=False):
                total += len(record.reader.read())
    return total


def extraction_floor(files: list[str], workers: int) -> int:
    """Every HTML response of the files read with fastwarc and turned into text by the
    pipeline's own extraction (core.html.parse_html: resiliparse), and nothing else (no
    rules, no MinHash, no outputs, no runner): a file a task, over `workers` forked
    processes. Characters of text extracted."""
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return sum(pool.map(_extract_file, files, chunksize=1))


def _extract_file(path: str) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from clearcrawl.core.html import parse_html

    total = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, record_types=WarcRecordType.response,
                                      parse_http=True):
            body = record.reader.read()
            if record.http_content_type == "text/html":
                total += len(parse_html(body, record.http_charset).text)
    return total
