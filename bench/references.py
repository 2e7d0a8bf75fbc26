"""The bare reference loops the pipeline is compared with: every response payload of the
files read, with warcio (pure Python) and with fastwarc (C++)."""

from __future__ import annotations


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
