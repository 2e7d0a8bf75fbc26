"""Composite transforms, one per stage (named VerbNoun)."""

from __future__ import annotations

import apache_beam as beam

from clearcrawl.beam.dofns import (
    DATA,
    ERRORS,
    FAILURES,
    SIGNATURES,
    DecideFn,
    FailureRowsFn,
    FinishFn,
    ReadRobotsCapturesFn,
    ReadShardFn,
)
from clearcrawl.beam.matching import FindRemovedNearDuplicates, JoinWorkCandidates, MergeFound
from clearcrawl.io.robots_captures import latest
from clearcrawl.records import DATA_SCHEMA, ERRORS_SCHEMA, LEDGER_SCHEMA, SIGNATURES_SCHEMA


class ReadShards(beam.PTransform):
    """PCollection[str shard URI] -> {docs: Document, failures: ReadFailure}.

    The shard list is reshuffled so workers share the files; each file is then
    streamed record by record (constant memory whatever its size).
    """

    def __init__(self, max_record_bytes: int, progress_dir: str | None = None):
        super().__init__()
        self._max_record_bytes = max_record_bytes
        self._progress_dir = progress_dir

    def expand(self, uris):
        return (uris
                | "SpreadShards" >> beam.Reshuffle()
                | "ReadRecords" >> beam.ParDo(ReadShardFn(self._max_record_bytes,
                                                           self._progress_dir))
                .with_outputs(FAILURES, main="docs"))


class ReadRobotsCaptures(beam.PTransform):
    """PCollection[str robots WARC URI] -> (origin, capture): the latest per scope."""

    def expand(self, uris):
        return (uris
                | "SpreadRobotsShards" >> beam.Reshuffle()
                | "ReadCaptures" >> beam.ParDo(ReadRobotsCapturesFn())
                | "LatestPerOrigin" >> beam.CombinePerKey(latest))


# Documents decided together: fingerprints and work search are vectorised over a
# batch (64 measured fastest for fingerprints; the LSH search gains little beyond).
BATCH = 64


class DecideDocuments(beam.PTransform):
    """PCollection[Document] -> {ledger: dict, data: dict}: match rules, signals and
    content, decide.

    `captures`, if given, is the (origin, capture) PCollection of crawl-time robots.txt.
    `works`: "broadcast" (in-memory index on every worker), "join" (band-key join, for
    registries too big for memory) or "none"; `propagate` removes near-duplicates of
    removed documents (one hop, band-key join over `shards` key shards).
    """

    def __init__(self, snapshot_uri: str, captures=None, works: str = "broadcast",
                 propagate: bool = True, shards: int = 64, local: bool = True):
        super().__init__()
        self._snapshot_uri = snapshot_uri
        self._captures = captures
        self._works = works
        self._propagate = propagate
        self._shards = shards
        self._local = local

    def expand(self, docs):
        fn = DecideFn(self._snapshot_uri, self._works, self._propagate)
        if self._captures is None:
            pardo = beam.ParDo(fn)
        else:
            pardo = beam.ParDo(fn, captures=beam.pvalue.AsDict(self._captures))
        decided = (docs
                   | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=BATCH)
                   | "Decide" >> pardo)
        if self._works == "join":
            candidates = decided | "JoinWorkCandidates" >> JoinWorkCandidates(
                self._snapshot_uri, self._shards)
            decided = (decided, candidates) | "MergeWorkMatches" >> MergeFound(
                self._snapshot_uri)
        return decided | "Finish" >> FinishDocuments(self._snapshot_uri, self._propagate,
                                                     self._shards, self._local)


class FinishDocuments(beam.PTransform):
    """PCollection[Decided] -> {ledger, data, signatures} rows, after spreading removals to
    near-duplicates of removed documents (if `propagate`): their band-key join finds the
    candidates, which reach each document as a side input, so documents are never
    shuffled. Locally the side input is a dict in memory (the candidates are few); on a
    distributed runner (`local=False`) a multimap looked up key by key, which needs no
    worker to hold them all. Both give the same rows."""

    def __init__(self, snapshot_uri: str, propagate: bool, shards: int, local: bool = True):
        super().__init__()
        self._snapshot_uri = snapshot_uri
        self._propagate = propagate
        self._shards = shards
        self._local = local

    def expand(self, decided):
        fn = FinishFn(self._snapshot_uri)
        if self._propagate:
            near = decided | "FindRemovedNearDuplicates" >> FindRemovedNearDuplicates(
                self._snapshot_uri, self._shards)
            if self._local:
                side = beam.pvalue.AsDict(near | "SourcesPerDocument" >> beam.GroupByKey())
            else:
                side = beam.pvalue.AsMultiMap(near)
            pardo = beam.ParDo(fn, near=side)
        else:
            pardo = beam.ParDo(fn)
        return decided | "Finish" >> pardo.with_outputs(DATA, SIGNATURES, main="ledger")


class AccountFailures(beam.PTransform):
    """PCollection[ReadFailure] -> {ledger: dict, errors: dict} (dead letters)."""

    def __init__(self, registry_id: str, policy_id: str):
        super().__init__()
        self._ids = (registry_id, policy_id)

    def expand(self, failures):
        return failures | "FailureRows" >> beam.ParDo(FailureRowsFn(*self._ids)).with_outputs(
            ERRORS, main="ledger")


class WriteOutputs(beam.PTransform):
    """{ledger, data, errors, signatures} row dicts -> Parquet files under the staging folder."""

    def __init__(self, staging: str):
        super().__init__()
        self._staging = staging.rstrip("/")

    def _write(self, rows, name: str, schema):
        return rows | f"Write{name.capitalize()}" >> beam.io.WriteToParquet(
            f"{self._staging}/{name}/part", schema, file_name_suffix=".parquet",
            codec="zstd", record_batch_size=2000, row_group_buffer_size=64 * 1024 * 1024)

    def expand(self, outputs):
        return {
            "ledger": self._write(outputs["ledger"], "ledger", LEDGER_SCHEMA),
            "data": self._write(outputs["data"], "data", DATA_SCHEMA),
            "errors": self._write(outputs["errors"], "errors", ERRORS_SCHEMA),
            "signatures": self._write(outputs["signatures"], "signatures", SIGNATURES_SCHEMA),
        }
