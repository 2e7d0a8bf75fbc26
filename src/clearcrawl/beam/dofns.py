"""Thin DoFns: heavy state (registry indexes) is built once per worker in setup()."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from clearcrawl.beam.outputs import (
    ArrowFileOutput,
    OutputSet,
    iter_arrow_file,
    open_uri,
)
from clearcrawl.beam.process import tune_process
from clearcrawl.beam.progress import ProgressWriter
from clearcrawl.core import crossmatch, lsh
from clearcrawl.core.minhash import fingerprint_many
from clearcrawl.core.policy import decide, sort_evidence
from clearcrawl.core.robots import RobotsTxt
from clearcrawl.core.rows import StagedRows, apply_propagation, decision_counts, split_staged
from clearcrawl.core.signals import RobotsCapture, SignalContext, evaluate
from clearcrawl.core.works import DocPrint
from clearcrawl.io.readers import read_shard
from clearcrawl.records import (
    STAGED_SCHEMA,
    Decided,
    Document,
    ReadFailure,
)
from clearcrawl.registry.snapshot import Snapshot

KEYS = "keys"
SOURCES = "sources"  # removed documents' signatures, once each, for the propagation join
READS = "reads"  # records read per input file, for the commit's accounting
LEAVES = "leaves"  # (bucket, [(doc_id, leaf)]) of ledger rows, for the ledger root
_DRAIN_LEAVES = 100_000
STAGED = "staged"  # staging folder of decided documents, before propagation
_ROW_GROUP_ROWS = 4096
_FLUSH_KEY_DOCS = 8192

_SNAPSHOTS: dict[str, Snapshot] = {}
_SNAPSHOT_LOCK = threading.Lock()


def load_snapshot(uri: str) -> Snapshot:
    """One snapshot per worker process, shared by every DoFn instance in it: rules and
    policy only. Its works files, beside it, are read when matching needs them
    (Snapshot.works for broadcast, one file per element in the join)."""
    with _SNAPSHOT_LOCK:
        snapshot = _SNAPSHOTS.get(uri)
        if snapshot is None:
            with open_uri(uri) as fh:
                snapshot = Snapshot.from_bytes(fh.read(), _SnapshotFolder(uri))
            _SNAPSHOTS[uri] = snapshot
        return snapshot


class _SnapshotFolder:
    """Reads files beside a snapshot URI (local or remote)."""

    def __init__(self, snapshot_uri: str):
        self._base = snapshot_uri.rsplit("/", 1)[0]

    def __call__(self, path: str) -> bytes:
        with open_uri(f"{self._base}/{path}") as fh:
            return fh.read()


class _CounterFamily:
    """Metrics counters named `<prefix>:<kind>`, created on first use."""

    def __init__(self, prefix: str):
        self._prefix, self._counters = prefix, {}

    def inc(self, kind: str, n: int = 1) -> None:
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = Metrics.counter("clearcrawl", f"{self._prefix}:{kind}")
        counter.inc(n)


class ReadShardFn(beam.DoFn):
    """str (shard URI) -> batches of up to `batch` records read: Documents, and a
    ReadFailure for each record that could not be read (they share one path to the
    ledger). Batches, not single records, travel on: Beam's DirectRunner costs tens
    of microseconds an element, as much as parsing a page. Tagged `reads`: the
    number of records read from the file, once it is read (the commit's count;
    the counters are progress only)."""

    def __init__(self, max_record_bytes: int, progress_dir: str | None = None,
                 batch: int = 64):
        self._max_record_bytes = max_record_bytes
        self._progress_dir = progress_dir
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


class _HostFiles:
    """Registry files of one kind (robots, ai.txt), parsed on first use per host."""

    def __init__(self, files: dict[str, str], make):
        self._files, self._make, self._parsed = files, make, {}

    def __call__(self, host: str):
        if host not in self._files:
            return None
        parsed = self._parsed.get(host)
        if parsed is None:
            parsed = self._parsed[host] = self._make(host, self._files[host])
        return parsed


class DecideFn(beam.DoFn):
    """Document -> Decided: domain rules, opt-out signals and (broadcast strategy)
    registered works; plus the fingerprint that cross-document matching needs.

    A record is a Document, a ReadFailure, or (Document, RobotsCapture | None,
    RobotsCapture | None) when crawl-time robots.txt captures or a robots store were
    given (crawl_robots.PairWithCrawlRobots).
    `works`: "broadcast" matches works here, "join" leaves them to the join,
    "none" skips content matching of works; `propagate` keeps the signature.
    """

    def __init__(self, snapshot_uri: str, works: str = "broadcast", propagate: bool = True):
        self._snapshot_uri = snapshot_uri
        self._works = works
        self._propagate = propagate

    def setup(self):
        self._snapshot = load_snapshot(self._snapshot_uri)
        self._index = self._snapshot.domain_index
        content = self._snapshot.content
        self._signals = SignalContext(
            policy=self._snapshot.policy,
            current_robots=_HostFiles(content["robots"], lambda host, text: RobotsCapture(
                f"robots/{host}.txt", 200, RobotsTxt(text))),
            site_tdmrep=content["tdmrep"].get,
            aitxt=_HostFiles(content["aitxt"], lambda host, text: RobotsTxt(text)),
        )
        # Works are read only for broadcast: the join strategy exists for registries
        # too big to decode on every worker.
        has_works = self._works != "none" and self._snapshot.works_count > 0
        self._matcher = self._snapshot.work_matcher if (
            has_works and self._works == "broadcast") else None
        self._fingerprint = has_works or self._propagate
        self._params = self._snapshot.matching
        tune_process()

    def process(self, records: list):
        """A batch of records -> the batch decided (one element; read failures pass
        through): fingerprints and the works search are vectorised over the batch,
        several times faster than one by one."""
        batch, crawl_robots, failures = [], [], []
        for record in records:
            if isinstance(record, tuple):
                batch.append(record[0])
                crawl_robots.append(record[1:])
            elif isinstance(record, Document):
                batch.append(record)
                crawl_robots.append((None, None))
            else:
                failures.append(record)
        if self._fingerprint:
            prints = fingerprint_many([doc.text for doc in batch], self._params)
            anchors = lsh.anchors_many([fp.shingles for fp in prints])
        else:
            prints = anchors = [None] * len(batch)
        prepared = [self._prepare(doc, fp, keys, robots)
                    for doc, fp, keys, robots in zip(batch, prints, anchors, crawl_robots)]
        if self._matcher is None:
            yield [decided for decided, _ in prepared] + failures
            return
        found = self._matcher.match_many([p[1] for p in prepared])
        yield [dataclasses.replace(decided, evidence=tuple(sort_evidence(
                   [*decided.evidence, *evidence]))) if evidence else decided
               for (decided, _), evidence in zip(prepared, found)] + failures

    def _prepare(self, doc: Document, fp, anchor_keys,
                 robots: tuple[RobotsCapture | None, RobotsCapture | None]
                 ) -> tuple[Decided, DocPrint | None]:
        """`robots`: (crawl-time capture in force, today's from the robots store)."""
        evidence = self._index.match(doc.url, doc.host)
        signals, license_ = evaluate(doc, self._signals, *robots)
        evidence += signals
        signature = anchors = b""
        shingle_count, doc_print = 0, None
        if fp is not None:
            shingle_count = int(fp.shingles.size)
            doc_print = DocPrint(doc.doc_id, fp, doc.text, anchor_keys)
            if not fp.empty:  # anchors kept for the join strategy and for refilter
                signature = fp.signature.astype("<u4").tobytes()
                anchors = doc_print.anchors.astype("<u8").tobytes()
        decided = Decided(doc, tuple(sort_evidence(evidence)), license_, signature, anchors,
                          shingle_count)
        return decided, doc_print


class StageDecidedFn(beam.DoFn):
    """list[Decided | ReadFailure] -> URI of a staged Arrow file (main output, one per
    bundle) and, if `propagate`, for the propagation join: (shard, KeyBlock bytes) band
    keys (`keys`), each block naming the staged file of its documents, and (staged
    file name, [RemovedSource]) the documents removed for a direct reason, with their
    signatures (`sources`).

    Every record is written here, decided on all but propagation, which needs
    the whole crawl decided first: its ledger row, its text if kept and its
    fingerprint (STAGED_SCHEMA). So only band keys cross the barrier, by value through
    the runner's shuffle, never documents: memory does not grow with the crawl and
    nothing is pickled per document. FinalizeStagedFn then applies propagation file
    by file, and counts the final decisions.
    """

    def __init__(self, snapshot_uri: str, staging: str, propagate: bool, shards: int):
        self._snapshot_uri = snapshot_uri
        self._staging = staging.rstrip("/")
        self._propagate = propagate
        self._shards = shards

    def setup(self):
        snapshot = load_snapshot(self._snapshot_uri)
        self._ids = (snapshot.registry_id, snapshot.policy_id)
        self._bands = snapshot.bands
        tune_process()

    def start_bundle(self):
        # Read back once, soon: Arrow's own format (staged texts are compressed once, at
        # the end, into data/).
        self._name = uuid.uuid4().hex
        self._output = ArrowFileOutput(f"{self._staging}/{STAGED}/{self._name}.arrow",
                                       STAGED_SCHEMA)
        self._rows = StagedRows(*self._ids)
        self._keys = crossmatch.PropagationKeys(self._bands, self._shards)

    def process(self, batch: list[Decided | ReadFailure]):
        for decided in batch:
            if isinstance(decided, ReadFailure):
                self._rows.add_failure(decided)
                continue
            decision, ordered = decide(list(decided.evidence))
            self._rows.add(decided, decision, ordered)
        if self._propagate:
            self._keys.add(d for d in batch if isinstance(d, Decided))
        if len(self._rows) >= _ROW_GROUP_ROWS:
            self._output.write(self._rows.take())
        if len(self._keys) >= _FLUSH_KEY_DOCS:
            for tag, item in self._drain_keys():
                yield beam.pvalue.TaggedOutput(tag, item)

    def _drain_keys(self) -> list[tuple[str, tuple]]:
        blocks, sources = self._keys.drain(self._name)
        drained = [(KEYS, (shard, block.to_bytes())) for shard, block in blocks]
        return drained + ([(SOURCES, (self._name, sources))] if sources else [])

    def finish_bundle(self):
        if len(self._rows):
            self._output.write(self._rows.take())
        if self._output.close():
            yield in_global_window(self._output.uri)
        for tag, item in self._drain_keys():
            yield beam.pvalue.TaggedOutput(tag, in_global_window(item))


def in_global_window(value) -> WindowedValue:
    """An element emitted from finish_bundle, where Beam needs its window spelt out."""
    return WindowedValue(value, GlobalWindow().max_timestamp(), [GlobalWindow()])


def staged_name(uri: str) -> str:
    """The name of a staged file, as its key blocks (KeyBlock.file) give it."""
    return uri.rsplit("/", 1)[-1].removesuffix(".arrow")


class FinalizeStagedFn(beam.DoFn):
    """(URI of a staged file, [(target doc_id, RemovedSource)]) -> its ledger, data,
    signatures and errors Parquet files and their receipt, written under the staging
    folder one row group at a time, named after the staged file (so a retried bundle
    rewrites the same files). Yields the receipt, and tagged `leaves` the ledger rows'
    Merkle leaves by bucket.

    The pairs are what propagation found for the file's documents: the removed
    documents a kept one shares a band key with (a pair may come from several key
    shards). Every row's final decision is core.policy.decide's, and the progress
    counters count it here, once (never counted before, so never undone).
    """

    def __init__(self, snapshot_uri: str, staging: str):
        self._snapshot_uri = snapshot_uri
        self._staging = staging.rstrip("/")
        self._kept = Metrics.counter("clearcrawl", "kept")
        self._removed = _CounterFamily("removed")
        self._errors = _CounterFamily("error")

    def setup(self):
        self._threshold = load_snapshot(self._snapshot_uri).policy.near_duplicate_threshold
        tune_process()

    def process(self, staged: tuple[str, list]):
        uri, pairs = staged
        near: dict[str, dict] = {}
        for target, source in pairs:
            near.setdefault(target, {})[source.doc_id] = source
        files = OutputSet(self._staging, f"{staged_name(uri)}.parquet")
        for table in iter_arrow_file(uri):
            if near:
                table = apply_propagation(
                    table, lambda doc_id: list(near.get(doc_id, {}).values()), self._threshold)
            self._count(table)
            for folder, part in split_staged(table).items():
                files.write(folder, part)
            for item in files.drain_leaves(at_least=_DRAIN_LEAVES):
                yield beam.pvalue.TaggedOutput(LEAVES, item)
        for item in files.drain_leaves():
            yield beam.pvalue.TaggedOutput(LEAVES, item)
        yield files.close()

    def _count(self, table) -> None:
        for name, n in decision_counts(table).items():
            if name == "kept":
                self._kept.inc(n)
            else:
                family, kind = name.split(":", 1)
                (self._removed if family == "removed" else self._errors).inc(kind, n)
