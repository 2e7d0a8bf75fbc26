"""Reading Parquet files: whole, or a row group at a time in bounded memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq


def read_table(source, columns: list[str] | None = None) -> pa.Table:
    """The whole file (a path or an open binary file) as one table, read on this thread.

    Not `pq.read_table`: given a Python file object, that one goes through the dataset
    scanner, whose pool threads still hold the file after it returns, and pyarrow's
    pool threads read it when use_threads is on. A pool thread that drops the last
    reference while the interpreter exits aborts the process (see exiting.py). Even
    ParquetFile on a Python file left a reference behind now and then (1 read in
    hundreds), so a file object's bytes are read here and pyarrow never sees it."""
    if hasattr(source, "read"):
        source = pa.BufferReader(source.read())
    return pq.ParquetFile(source).read(columns=columns, use_threads=False)


@contextmanager
def parquet_file(uri: str, opener: Callable):
    """A ParquetFile to read row groups from (on this thread: pass use_threads=False).
    A local path is opened by pyarrow itself, a native file that no pool thread can
    leave a Python reference to (see read_table); a remote URI (gs://) through
    `opener(uri)`, a Python file."""
    if "://" not in uri:
        with pq.ParquetFile(uri) as parquet:
            yield parquet
        return
    with opener(uri) as fh:
        yield pq.ParquetFile(fh)


def iter_row_groups(source, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The file's row groups as tables, one at a time. (`ParquetFile.iter_batches` reads
    far ahead: about 1 GB resident for a 680 MB file, against 250 MB this way.)"""
    parquet = source if isinstance(source, pq.ParquetFile) else pq.ParquetFile(source)
    for index in range(parquet.num_row_groups):
        yield parquet.read_row_group(index, columns=columns)


def iter_rows(source, batch_rows: int, columns: list[str] | None = None
              ) -> Iterator[list[dict]]:
    """The file's rows as dicts, `batch_rows` at a time, one row group read at a time."""
    for table in iter_row_groups(source, columns):
        for batch in table.to_batches(max_chunksize=batch_rows):
            yield batch.to_pylist()
