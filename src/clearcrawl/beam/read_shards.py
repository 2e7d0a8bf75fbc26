"""Read shards: each input file streamed record by record into batches of records."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from clearcrawl.beam.config import RunConfig
from clearcrawl.beam.outputs import open_uri
from clearcrawl.beam.progress import ProgressWriter
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.io.readers import read_shard
from clearcrawl.records import Document, ReadFailure

READS = "reads"  # records read per input file, for the commit's accounting


class ReadShards(beam.PTransform):
    """PCollection[str shard URI] -> {"records": PCollection[list[Document |
    ReadFailure]], "reads": PCollection[int], records read per file}.

    The shard list is reshuffled so workers share the files; each file is then
    streamed record by record (constant memory whatever its size).
    """

    def __init__(self, config: RunConfig, shuffles: ShuffleCounts):
        super().__init__()
        self._config = config
        self._shuffles = shuffles

    def expand(self, uris):
        read = (self._shuffles.reshuffle("SpreadShards", uris)
                | "ReadRecords" >> beam.ParDo(ReadShardFn(self._config)).with_outputs(
                    READS, main="records"))
        return {"records": read.records, "reads": read[READS]}


class ReadShardFn(beam.DoFn):
    """str (shard URI) -> batches of up to `batch` records read: Documents, and a
    ReadFailure for each record that could not be read (they share one path to the
    ledger). Batches, not single records, travel on: Beam's DirectRunner costs tens
    of microseconds an element, as much as parsing a page. Tagged `reads`: the
    number of records read from the file, once it is read (the commit's count;
    the counters are progress only)."""

    def __init__(self, config: RunConfig, batch: int = 64):
        self._max_record_bytes = config.max_record_bytes
        self._progress_dir = config.progress_dir
        self._batch = batch
        self._records = Metrics.counter("clearcrawl", "records_read")
        self._files = Metrics.counter("clearcrawl", "files_read")

    def setup(self):
        self._progress = ProgressWriter(self._progress_dir)

    def process(self, uri: str):
        batch: list[Document | ReadFailure] = []
        read = 0
        for item in read_shard(uri, open_uri, self._max_record_bytes):
            batch.append(item)
            if len(batch) == self._batch:
                self._count(len(batch))
                read += len(batch)
                yield batch
                batch = []
        if batch:
            self._count(len(batch))
            read += len(batch)
            yield batch
        yield beam.pvalue.TaggedOutput(READS, read)
        self._files.inc()
        self._progress.add(files=1)

    def _count(self, records: int) -> None:
        self._records.inc(records)
        self._progress.add(records=records)

