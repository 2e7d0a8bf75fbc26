"""Match works: registered works found in documents' texts.

With the broadcast strategy (and "none") this step is empty: CollectEvidenceFn
searches an in-memory index of the works on every worker. The join strategy, for
registries too big for memory, is a band-key join. Entries are buffered per key shard
inside a bundle and emitted as one list per shard, so a document costs a few list
appends rather than one pipeline element per key (Beam's DirectRunner charges ~25 us
an element); GroupByKey on the shard then brings equal keys together, and the pure
functions of `core.crossmatch` find the pairs. Shards bound the size of one group:
raise `--match-shards` for bigger crawls.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import numpy as np

from clearcrawl.beam.config import JOIN, RunConfig
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.beam.workers import in_global_window, load_snapshot
from clearcrawl.core import crossmatch, lsh
from clearcrawl.core.minhash import fingerprint
from clearcrawl.core.policy import sort_evidence
from clearcrawl.core.works import DocPrint, WorkSet, verify
from clearcrawl.records import Decided, ReadFailure
from clearcrawl.registry.snapshot import WorksFile

_FLUSH_ENTRIES = 50_000


class MatchWorks(beam.PTransform):
    """PCollection[list[Decided | ReadFailure]] -> the same batches, each Decided with
    the work evidence the join found added (the join strategy; otherwise the input as
    it is, works were matched while collecting evidence)."""

    def __init__(self, config: RunConfig, shuffles: ShuffleCounts):
        super().__init__()
        self._config = config
        self._shuffles = shuffles

    def expand(self, batches):
        if self._config.works != JOIN:
            return batches
        # The join pairs single documents with works by doc_id.
        single = batches | "Unbatch" >> beam.FlatMap(lambda batch: batch)
        records = single | "SplitFailures" >> beam.Partition(
            lambda r, _: int(isinstance(r, ReadFailure)), 2)
        candidates = records[0] | "JoinWorkCandidates" >> JoinWorkCandidates(
            self._config, self._shuffles)
        merged = (records[0], candidates) | "MergeWorkMatches" >> MergeFound(
            self._config, self._shuffles)
        return ((merged, records[1])
                | "WithFailures" >> beam.Flatten()
                | "Rebatch" >> beam.BatchElements(min_batch_size=64, max_batch_size=1024))


class _ShardBuffer(beam.DoFn):
    """Buffers (shard, entry) pairs and emits (shard, [entries]) per shard and bundle."""

    def __init__(self, shards: int):
        self._shards = shards

    def start_bundle(self):
        self._buffer: dict[int, list] = {}
        self._size = 0

    def _add(self, key: int, entry: tuple):
        self._buffer.setdefault(crossmatch.shard_of(key, self._shards), []).append(entry)
        self._size += 1

    def _drain(self):
        buffered, self._buffer, self._size = self._buffer, {}, 0
        return sorted(buffered.items())

    def _maybe_flush(self):
        if self._size >= _FLUSH_ENTRIES:
            yield from self._drain()

    def finish_bundle(self):
        for item in self._drain():
            yield in_global_window(item)


class DocWorkKeysFn(_ShardBuffer):
    """Decided -> (shard, [entries]): band and anchor keys of each document."""

    def __init__(self, snapshot_uri: str, shards: int):
        super().__init__(shards)
        self._snapshot_uri = snapshot_uri

    def setup(self):
        self._bands = load_snapshot(self._snapshot_uri).bands

    def process(self, decided: Decided):
        doc_id = decided.doc.doc_id
        if decided.signature:
            signature = np.frombuffer(decided.signature, "<u4")
            for key in lsh.band_keys(signature, *self._bands)[0].tolist():
                self._add(key, (crossmatch.DOC_BAND, key, doc_id))
            for key in np.frombuffer(decided.anchors, "<u8").tolist():
                self._add(key, (crossmatch.DOC_ANCHOR, key, doc_id))
        yield from self._maybe_flush()


WORK_RECORDS = "records"


class WorkKeysFn(_ShardBuffer):
    """(first work index, WorksFile) -> (shard, [entries]): band and anchor keys of the
    works of one works file; tagged `records`, (work index, record) of each, for the
    join that hands candidates their work. One file in memory at a time: no worker
    ever loads every work."""

    def __init__(self, snapshot_uri: str, shards: int):
        super().__init__(shards)
        self._snapshot_uri = snapshot_uri

    def setup(self):
        self._snapshot = load_snapshot(self._snapshot_uri)

    def process(self, item: tuple[int, WorksFile]):
        start, entry = item
        records = self._snapshot.works_file_records(entry)
        works = WorkSet.from_records(self._snapshot.matching, records)
        keys = works.band_keys(*self._snapshot.bands)
        for offset in range(len(works)):
            index = start + offset
            anchors = works.anchors(offset)
            count = int(anchors.size)
            for key in keys[offset].tolist():
                self._add(key, (crossmatch.WORK_BAND, key, index, count))
            for key in anchors.tolist():
                self._add(key, (crossmatch.WORK_ANCHOR, key, index, count))
            yield from self._maybe_flush()
        # from_records orders by entry_id, as the file is: offsets agree.
        for offset, record in enumerate(records):
            yield beam.pvalue.TaggedOutput(WORK_RECORDS, (start + offset, record))


def _works_files(snapshot_uri: str):
    """The snapshot's works files, each with the index of its first work."""
    yield from load_snapshot(snapshot_uri).work_file_starts()


def _work_pairs(shard_group):
    _, lists = shard_group
    entries = [entry for part in lists for entry in part]
    yield from crossmatch.work_pairs(entries).items()


def _attach_work(grouped):
    index, joined = grouped
    records = list(joined["record"])
    if not records:
        return
    for doc_id in sorted(set(joined["doc"])):
        yield doc_id, crossmatch.WorkCandidate(index, records[0])


class JoinWorkCandidates(beam.PTransform):
    """PCollection[Decided] -> PCollection[(doc_id, WorkCandidate)]: the distributed
    strategy's candidate pairs, each carrying the work's fingerprint record."""

    def __init__(self, config: RunConfig, shuffles: ShuffleCounts):
        super().__init__()
        self._snapshot_uri = config.snapshot_uri
        self._shards = config.match_shards
        self._shuffles = shuffles

    def expand(self, decided):
        # The works files' listing is small (one entry per WORKS_PER_FILE works); the
        # reshuffle spreads the files over workers, each reads the files it is given.
        listed = (decided.pipeline
                  | "Snapshot" >> beam.Create([self._snapshot_uri])
                  | "ListWorksFiles" >> beam.FlatMap(_works_files))
        files = self._shuffles.reshuffle("SpreadWorksFiles", listed)
        doc_keys = decided | "DocKeys" >> beam.ParDo(DocWorkKeysFn(self._snapshot_uri,
                                                                   self._shards))
        work = files | "WorkKeys" >> beam.ParDo(WorkKeysFn(
            self._snapshot_uri, self._shards)).with_outputs(WORK_RECORDS, main="keys")
        work_keys, records = work["keys"], work[WORK_RECORDS]
        keys = (doc_keys, work_keys) | "AllKeys" >> beam.Flatten()
        pairs = (self._shuffles.group_by_key("GroupWorkShards", keys)
                 | "PairsInShard" >> beam.FlatMap(_work_pairs))
        candidates = (self._shuffles.combine_per_key("CombinePairs", pairs,
                                                     crossmatch.merge_pair_states)
                      | "Candidates" >> beam.Filter(lambda kv: crossmatch.is_work_candidate(
                          kv[1]))
                      | "ByWork" >> beam.Map(lambda kv: (kv[0][1], kv[0][0])))
        return (self._shuffles.co_group_by_key("JoinWorks",
                                               {"record": records, "doc": candidates})
                | "AttachWork" >> beam.FlatMap(_attach_work))




class MergeFn(beam.DoFn):
    """(doc_id, {decided: [Decided], found: [WorkCandidate]}) -> Decided with the verified
    work evidence added (the distributed strategy)."""

    def __init__(self, snapshot_uri: str):
        self._snapshot_uri = snapshot_uri

    def setup(self):
        snapshot = load_snapshot(self._snapshot_uri)
        self._params = snapshot.matching
        self._threshold = snapshot.policy.near_duplicate_threshold

    def process(self, grouped):
        _, joined = grouped
        for decided in joined["decided"]:  # exactly one per doc_id
            added = self._verify_works(decided, list(joined["found"]))
            if not added:
                yield decided
                continue
            yield dataclasses.replace(
                decided, evidence=tuple(sort_evidence([*decided.evidence, *added])))

    def _verify_works(self, decided: Decided, candidates) -> list:
        if not candidates:
            return []
        doc = DocPrint(decided.doc.doc_id, fingerprint(decided.doc.text, self._params),
                       decided.doc.text)
        evidence = []
        for candidate in sorted({c.index: c for c in candidates}.values(),
                                key=lambda c: c.index):
            works = WorkSet.from_records(self._params, [candidate.record])
            found = verify(doc, works, 0, self._threshold)
            if found is not None:
                evidence.append(found)
        return evidence


class MergeFound(beam.PTransform):
    """(PCollection[Decided], PCollection[(doc_id, found)]) -> PCollection[Decided]."""

    def __init__(self, config: RunConfig, shuffles: ShuffleCounts):
        super().__init__()
        self._snapshot_uri = config.snapshot_uri
        self._shuffles = shuffles

    def expand(self, pcolls):
        decided, found = pcolls
        keyed = decided | "KeyByDoc" >> beam.Map(lambda d: (d.doc.doc_id, d))
        return (self._shuffles.co_group_by_key("JoinFoundByDoc",
                                               {"decided": keyed, "found": found})
                | "Verify" >> beam.ParDo(MergeFn(self._snapshot_uri)))
