"""Composite transforms, one per stage (named VerbNoun)."""

from __future__ import annotations

import apache_beam as beam

from clearcrawl.beam.crawl_robots import PairWithCrawlRobots
from clearcrawl.beam.dofns import (
    KEYS,
    LEAVES,
    READS,
    SOURCES,
    DecideFn,
    FinalizeStagedFn,
    ReadShardFn,
    StageDecidedFn,
)
from clearcrawl.beam.matching import FindRemovedNearDuplicates, JoinWorkCandidates, MergeFound
from clearcrawl.records import ReadFailure


class ReadShards(beam.PTransform):
    """PCollection[str shard URI] -> {"records": PCollection[list[Document |
    ReadFailure]], "reads": PCollection[int], records read per file}.

    The shard list is reshuffled so workers share the files; each file is then
    streamed record by record (constant memory whatever its size).
    """

    def __init__(self, max_record_bytes: int, progress_dir: str | None = None):
        super().__init__()
        self._max_record_bytes = max_record_bytes
        self._progress_dir = progress_dir

    def expand(self, uris):
        read = (uris
                | "SpreadShards" >> beam.Reshuffle()
                | "ReadRecords" >> beam.ParDo(ReadShardFn(self._max_record_bytes,
                                                           self._progress_dir)).with_outputs(
                    READS, main="records"))
        return {"records": read.records, "reads": read[READS]}


class DecideDocuments(beam.PTransform):
    """PCollection[list[Document]] -> {"receipts", "leaves"} of the files written (see
    FinishDocuments): match rules, signals and content, decide, and write ledger,
    data and signatures files to the staging folder.

    Documents travel in batches (ReadShards makes them): fingerprints and the works
    search are vectorised over a batch, and Beam's cost per element is paid once.
    `captures`, if given, is the (origin, Resolved) PCollection of crawl-time robots.txt
    captures (crawl_robots.ResolveRobotsRedirects), `store` the (origin, CurrentRobots)
    rows of a robots store (robots_store_join.ReadRobotsStore): both joined with the
    documents by origin, in one join.
    `works`: "broadcast" (in-memory index on every worker), "join" (band-key join, for
    registries too big for memory) or "none"; `propagate` removes near-duplicates of
    removed documents (one hop, band-key join over `shards` key shards, on every
    runner). `staging` is the run's staging folder.
    """

    def __init__(self, snapshot_uri: str, staging: str, captures=None,
                 works: str = "broadcast", propagate: bool = True, shards: int = 64,
                 store=None, store_label: str = ""):
        super().__init__()
        self._snapshot_uri = snapshot_uri
        self._staging = staging
        self._captures = captures
        self._store = store
        self._store_label = store_label
        self._works = works
        self._propagate = propagate
        self._shards = shards

    def expand(self, batches):
        if self._captures is not None or self._store is not None:
            batches = batches | "PairWithCrawlRobots" >> PairWithCrawlRobots(
                self._captures, self._staging, store=self._store,
                store_label=self._store_label)
        decided = batches | "Decide" >> beam.ParDo(
            DecideFn(self._snapshot_uri, self._works, self._propagate))
        if self._works == "join":
            # The distributed works join pairs single documents with works by doc_id.
            single = decided | "Unbatch" >> beam.FlatMap(lambda batch: batch)
            records = single | "SplitFailures" >> beam.Partition(
                lambda r, _: int(isinstance(r, ReadFailure)), 2)
            candidates = records[0] | "JoinWorkCandidates" >> JoinWorkCandidates(
                self._snapshot_uri, self._shards)
            merged = (records[0], candidates) | "MergeWorkMatches" >> MergeFound(
                self._snapshot_uri)
            decided = ((merged, records[1])
                       | "WithFailures" >> beam.Flatten()
                       | "Rebatch" >> beam.BatchElements(min_batch_size=64,
                                                         max_batch_size=1024))
        return decided | "Finish" >> FinishDocuments(self._snapshot_uri, self._staging,
                                                     self._propagate, self._shards)


class FinishDocuments(beam.PTransform):
    """PCollection[list[Decided | ReadFailure]] -> their ledger, data, signatures and
    errors Parquet files in the staging folder, after spreading removals to
    near-duplicates of removed documents (if `propagate`); {"receipts": a receipt
    per file set, "leaves": (bucket, [(doc_id, leaf)]) of the ledger rows}.

    Decided documents are staged to Arrow files as they come (StageDecidedFn), so only
    band keys (and removed documents' signatures) wait for propagation, whatever the
    crawl's size. They go through the shuffle by value, the keys in `shards` key
    shards; the pairs found meet their staged file in keyed joins
    (FindRemovedNearDuplicates), and FinalizeStagedFn makes each row's final decision.
    The same graph on every runner.
    """

    def __init__(self, snapshot_uri: str, staging: str, propagate: bool, shards: int):
        super().__init__()
        self._snapshot_uri = snapshot_uri
        self._staging = staging
        self._propagate = propagate
        self._shards = shards

    def expand(self, batches):
        staged = batches | "Stage" >> beam.ParDo(StageDecidedFn(
            self._snapshot_uri, self._staging, self._propagate, self._shards)).with_outputs(
            KEYS, SOURCES, main="files")
        if self._propagate:
            with_pairs = ({"staged": staged.files, "keys": staged[KEYS],
                           "sources": staged[SOURCES]}
                          | "FindRemovedNearDuplicates" >> FindRemovedNearDuplicates())
        else:
            with_pairs = staged.files | "NoPairs" >> beam.Map(lambda uri: (uri, []))
        finalized = with_pairs | "Finalize" >> beam.ParDo(FinalizeStagedFn(
            self._snapshot_uri, self._staging)).with_outputs(LEAVES, main="receipts")
        return {"receipts": finalized.receipts, "leaves": finalized[LEAVES]}
