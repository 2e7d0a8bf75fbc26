"""Thin DoFns: heavy state (registry indexes) is built once per worker in setup()."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from clearcrawl import reasons
from clearcrawl.beam.outputs import (
    ArrowFileOutput,
    OutputSet,
    create_uri,
    iter_arrow_file,
    open_uri,
)
from clearcrawl.beam.process import tune_process
from clearcrawl.beam.progress import ProgressWriter
from clearcrawl.core import crossmatch, lsh
from clearcrawl.core.minhash import fingerprint_many
from clearcrawl.core.policy import decide, sort_evidence
from clearcrawl.core.robots import RobotsTxt
from clearcrawl.core.rows import StagedRows, apply_propagation, split_staged
from clearcrawl.core.signals import RobotsCapture, SignalContext, evaluate
from clearcrawl.core.works import DocPrint
from clearcrawl.io.readers import read_shard
from clearcrawl.records import (
    STAGED_SCHEMA,
    Decided,
    Document,
    FastPickle,
    ReadFailure,
    fast_pickle,
)
from clearcrawl.registry.snapshot import Snapshot

KEYS = "keys"
READS = "reads"  # records read per input file, for the commit's accounting
LEAVES = "leaves"  # (bucket, [(doc_id, leaf)]) of ledger rows, for the ledger root
_DRAIN_LEAVES = 100_000
STAGED = "staged"  # staging folder of decided documents, before propagation
KEY_BLOCKS = "keyblocks"  # staging folder of their band keys, for the propagation join
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

    def inc(self, kind: str) -> None:
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = Metrics.counter("clearcrawl", f"{self._prefix}:{kind}")
        counter.inc()


@fast_pickle
@dataclasses.dataclass(frozen=True, slots=True)
class KeyBlockRef(FastPickle):
    """Where one KeyBlock lies in its bundle's key-block file. The propagation join
    shuffles these few bytes, not the blocks: Beam's data plane between worker
    processes moves some tens of MB/s, a second for the keys of 48,000 pages."""

    uri: str
    offset: int
    length: int

    def load(self) -> crossmatch.KeyBlock:
        with open_uri(self.uri) as fh:
            fh.seek(self.offset)
            return crossmatch.KeyBlock.from_bytes(fh.read(self.length))


class _KeyBlockFile:
    """One bundle's key blocks, one after another in a file created on the first block;
    each block is announced by a KeyBlockRef."""

    def __init__(self, uri: str):
        self.uri, self._file, self._size = uri, None, 0

    def add(self, block: crossmatch.KeyBlock) -> KeyBlockRef:
        if self._file is None:
            self._file = create_uri(self.uri)
        data = block.to_bytes()
        self._file.write(data)
        ref = KeyBlockRef(self.uri, self._size, len(data))
        self._size += len(data)
        return ref

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


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
    bundle) and, if `propagate`, (shard, KeyBlockRef) band keys for the propagation join
    (`keys`), the blocks themselves in a file beside it.

    Every record is written here, decided on all but propagation, which needs
    the whole crawl decided first: its ledger row, its text if kept and its
    fingerprint (STAGED_SCHEMA). So only band keys cross the barrier, never
    documents: memory does not grow with the crawl and nothing is pickled per
    document. FinalizeStagedFn then applies propagation file by file.
    """

    def __init__(self, snapshot_uri: str, staging: str, propagate: bool, shards: int):
        self._snapshot_uri = snapshot_uri
        self._staging = staging.rstrip("/")
        self._propagate = propagate
        self._shards = shards
        self._kept = Metrics.counter("clearcrawl", "kept")
        self._removed = _CounterFamily("removed")
        self._errors = _CounterFamily("error")

    def setup(self):
        snapshot = load_snapshot(self._snapshot_uri)
        self._ids = (snapshot.registry_id, snapshot.policy_id)
        self._bands = snapshot.bands
        tune_process()

    def start_bundle(self):
        # Read back once, soon: Arrow's own format (staged texts are compressed once, at
        # the end, into data/).
        name = uuid.uuid4().hex
        self._output = ArrowFileOutput(f"{self._staging}/{STAGED}/{name}.arrow", STAGED_SCHEMA)
        self._rows = StagedRows(*self._ids)
        self._keys = crossmatch.PropagationKeys(self._bands, self._shards)
        self._key_file = _KeyBlockFile(f"{self._staging}/{KEY_BLOCKS}/{name}.arrows")

    def process(self, batch: list[Decided | ReadFailure]):
        kept = 0
        for decided in batch:
            if isinstance(decided, ReadFailure):
                self._rows.add_failure(decided)
                self._errors.inc(decided.error_kind)
                continue
            decision, ordered = decide(list(decided.evidence))
            self._rows.add(decided, decision, ordered)
            if decision == reasons.KEEP:
                kept += 1
            else:
                for kind in dict.fromkeys(e.kind for e in ordered):
                    self._removed.inc(kind)
        self._kept.inc(kept)
        if self._propagate:
            self._keys.add(d for d in batch if isinstance(d, Decided))
        if len(self._rows) >= _ROW_GROUP_ROWS:
            self._output.write(self._rows.take())
        if len(self._keys) >= _FLUSH_KEY_DOCS:
            for shard, block in self._keys.drain():
                yield beam.pvalue.TaggedOutput(KEYS, (shard, self._key_file.add(block)))

    def finish_bundle(self):
        if len(self._rows):
            self._output.write(self._rows.take())
        if self._output.close():
            yield in_global_window(self._output.uri)
        refs = [(shard, self._key_file.add(block)) for shard, block in self._keys.drain()]
        self._key_file.close()  # before the bundle ends, and so before anyone reads it
        for item in refs:
            yield beam.pvalue.TaggedOutput(KEYS, in_global_window(item))


def in_global_window(value) -> WindowedValue:
    """An element emitted from finish_bundle, where Beam needs its window spelt out."""
    return WindowedValue(value, GlobalWindow().max_timestamp(), [GlobalWindow()])


class FinalizeStagedFn(beam.DoFn):
    """URI of a staged file -> its ledger, data, signatures and errors Parquet files and
    their receipt, written under the staging folder one row group at a time, named
    after the staged file (so a retried bundle rewrites the same files). Yields the
    receipt, and tagged `leaves` the ledger rows' Merkle leaves by bucket.

    Side input `near` (optional): {doc_id: [RemovedSource]}, the removed documents a kept
    document shares a band key with; a dict locally, a multimap on distributed
    runners (looked up key by key, so a large crawl's candidates need not fit in
    one worker's memory).
    """

    def __init__(self, snapshot_uri: str, staging: str):
        self._snapshot_uri = snapshot_uri
        self._staging = staging.rstrip("/")
        self._kept = Metrics.counter("clearcrawl", "kept")
        self._removed = _CounterFamily("removed")

    def setup(self):
        self._threshold = load_snapshot(self._snapshot_uri).policy.near_duplicate_threshold
        tune_process()

    def process(self, uri: str, near=None):
        # A dict (local runs) or a multimap (distributed runs): [] or None if absent.
        sources_of = None if near is None else (
            near.get if isinstance(near, dict) else near.__getitem__)
        name = uri.rsplit("/", 1)[-1].removesuffix(".arrow")
        files = OutputSet(self._staging, f"{name}.parquet")
        for table in iter_arrow_file(uri):
            if sources_of is not None:
                table, removed = apply_propagation(table, sources_of, self._threshold)
                self._kept.dec(len(removed))
                for kinds in removed:
                    for kind in kinds:
                        self._removed.inc(kind)
            for folder, part in split_staged(table).items():
                files.write(folder, part)
            for item in files.drain_leaves(at_least=_DRAIN_LEAVES):
                yield beam.pvalue.TaggedOutput(LEAVES, item)
        for item in files.drain_leaves():
            yield beam.pvalue.TaggedOutput(LEAVES, item)
        yield files.close()
