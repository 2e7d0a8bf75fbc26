"""Thin DoFns: heavy state (registry indexes) is built once per worker in setup()."""

from __future__ import annotations

import dataclasses
import threading

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from clearcrawl import reasons
from clearcrawl.beam.progress import ProgressWriter
from clearcrawl.core import crossmatch, lsh
from clearcrawl.core.minhash import fingerprint_many
from clearcrawl.core.policy import decide, sort_evidence
from clearcrawl.core.robots import RobotsTxt
from clearcrawl.core.rows import data_row, failure_rows, ledger_row
from clearcrawl.core.signals import RobotsCapture, SignalContext, evaluate
from clearcrawl.core.urls import origin_key
from clearcrawl.core.works import DocPrint
from clearcrawl.io.readers import read_shard
from clearcrawl.io.robots_captures import read_captures
from clearcrawl.records import Decided, Document, ReadFailure
from clearcrawl.registry.snapshot import Snapshot

FAILURES = "failures"
LEDGER = "ledger"
DATA = "data"
ERRORS = "errors"
SIGNATURES = "signatures"

_SNAPSHOTS: dict[str, Snapshot] = {}
_SNAPSHOT_LOCK = threading.Lock()


def open_uri(uri: str):
    # Compression is ours to handle (gzip members, zstd): read raw bytes.
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def load_snapshot(uri: str) -> Snapshot:
    """One snapshot per worker process, shared by every DoFn instance in it."""
    with _SNAPSHOT_LOCK:
        snapshot = _SNAPSHOTS.get(uri)
        if snapshot is None:
            with open_uri(uri) as fh:
                snapshot = Snapshot.from_bytes(fh.read())
            _SNAPSHOTS[uri] = snapshot
        return snapshot


class _CounterFamily:
    """Metrics counters named `<prefix>:<kind>`, created on first use."""

    def __init__(self, prefix: str):
        self._prefix, self._counters = prefix, {}

    def inc(self, kind: str) -> None:
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = Metrics.counter("clearcrawl", f"{self._prefix}:{kind}")
        counter.inc()


class ReadShardFn(beam.DoFn):
    """str (shard URI) -> Document, and ReadFailure on the `failures` output."""

    def __init__(self, max_record_bytes: int, progress_dir: str | None = None):
        self._max_record_bytes = max_record_bytes
        self._progress_dir = progress_dir
        self._records = Metrics.counter("clearcrawl", "records_read")
        self._files = Metrics.counter("clearcrawl", "files_read")

    def setup(self):
        self._progress = ProgressWriter(self._progress_dir)

    def process(self, uri: str):
        for item in read_shard(uri, open_uri, self._max_record_bytes):
            self._records.inc()
            self._progress.add(records=1)
            if isinstance(item, ReadFailure):
                yield beam.pvalue.TaggedOutput(FAILURES, item)
            else:
                yield item
        self._files.inc()
        self._progress.add(files=1)


class ReadRobotsCapturesFn(beam.DoFn):
    """str (robots WARC URI) -> (origin, capture tuple) for every /robots.txt response."""

    def process(self, uri: str):
        with open_uri(uri) as fh:
            yield from read_captures(uri, fh)


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

    Side input `captures`: {origin: capture tuple} of crawl-time robots.txt.
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
        self._captures: dict[str, RobotsCapture] = {}
        # The snapshot's records, not its decoded WorkSet: the join strategy exists for
        # registries too big to decode on every worker.
        has_works = self._works != "none" and bool(content["works"])
        self._matcher = self._snapshot.work_matcher if (
            has_works and self._works == "broadcast") else None
        self._fingerprint = has_works or self._propagate
        self._params = self._snapshot.matching

    def _crawl_capture(self, doc: Document, captures) -> RobotsCapture | None:
        if not captures:
            return None
        origin = origin_key(doc.url)
        capture = self._captures.get(origin)
        if capture is None:
            raw = captures.get(origin)
            if raw is None:
                return None  # none captured: no restriction
            date, status, body, source_id = raw
            capture = RobotsCapture(source_id, status, RobotsTxt(body), date)
            if len(self._captures) > 100_000:
                self._captures.clear()
            self._captures[origin] = capture
        return capture

    def process(self, batch: list[Document], captures=None):
        """A batch of documents (see DecideDocuments): works are searched for the whole
        batch at once, which is several times faster than one document at a time."""
        prints = (fingerprint_many([doc.text for doc in batch], self._params)
                  if self._fingerprint else [None] * len(batch))
        prepared = [self._prepare(doc, fp, captures) for doc, fp in zip(batch, prints)]
        if self._matcher is not None:
            found = self._matcher.match_many([p[1] for p in prepared])
            for (decided, _), evidence in zip(prepared, found):
                if evidence:
                    decided = dataclasses.replace(
                        decided, evidence=tuple(sort_evidence([*decided.evidence, *evidence])))
                yield decided
        else:
            for decided, _ in prepared:
                yield decided

    def _prepare(self, doc: Document, fp, captures) -> tuple[Decided, DocPrint | None]:
        evidence = self._index.match(doc.url, doc.host)
        signals, license_ = evaluate(doc, self._signals, self._crawl_capture(doc, captures))
        evidence += signals
        signature = anchors = b""
        shingle_count, doc_print = 0, None
        if fp is not None:
            shingle_count = int(fp.shingles.size)
            doc_print = DocPrint(doc.doc_id, fp, doc.text)
            if not fp.empty:
                signature = fp.signature.astype("<u4").tobytes()
            if not fp.empty:  # kept for the join strategy and for refilter
                anchors = lsh.anchors(fp.shingles, cap=None).astype("<u8").tobytes()
        decided = Decided(doc, tuple(sort_evidence(evidence)), license_, signature, anchors,
                          shingle_count)
        return decided, doc_print


class FinishFn(beam.DoFn):
    """Decided -> ledger row dict (main output), data row dict (`data` output) and the
    document's signature (`signatures` output).

    Side input `near` (optional): {doc_id: [RemovedSource]}, the removed documents a kept
    document shares a band key with. Looked up per document, so a large crawl's
    candidates need not fit in memory (a multimap side input) and no document is
    shuffled to add them.
    """

    def __init__(self, snapshot_uri: str):
        self._snapshot_uri = snapshot_uri
        self._kept = Metrics.counter("clearcrawl", "kept")
        self._removed = _CounterFamily("removed")

    def setup(self):
        snapshot = load_snapshot(self._snapshot_uri)
        self._registry_id = snapshot.registry_id
        self._policy_id = snapshot.policy_id
        self._threshold = snapshot.policy.near_duplicate_threshold

    def process(self, decided: Decided, near=None):
        doc = decided.doc
        evidence = list(decided.evidence)
        if near is not None and decided.signature:
            # A dict (local runs) or a multimap (distributed runs): [] or None if absent.
            sources = near.get(doc.doc_id) if isinstance(near, dict) else near[doc.doc_id]
            if sources:
                evidence += crossmatch.propagation_evidence(decided.signature, sources,
                                                            self._threshold)
        decision, ordered = decide(evidence)
        yield ledger_row(doc, decision, ordered, decided.license, self._registry_id,
                         self._policy_id)
        if decided.signature:
            yield beam.pvalue.TaggedOutput(SIGNATURES, {
                "doc_id": doc.doc_id, "signature": decided.signature,
                "shingle_count": decided.shingle_count, "anchors": decided.anchors})
        if decision == reasons.KEEP:
            self._kept.inc()
            yield beam.pvalue.TaggedOutput(DATA, data_row(doc, decided.license,
                                                          self._registry_id))
        else:
            for kind in dict.fromkeys(e.kind for e in ordered):
                self._removed.inc(kind)


class FailureRowsFn(beam.DoFn):
    """ReadFailure -> ledger row dict (main) and dead-letter dict (`errors` output)."""

    def __init__(self, registry_id: str, policy_id: str):
        self._registry_id = registry_id
        self._policy_id = policy_id
        self._errors = _CounterFamily("error")

    def process(self, failure: ReadFailure):
        self._errors.inc(failure.error_kind)
        ledger, dead_letter = failure_rows(failure, self._registry_id, self._policy_id)
        yield ledger
        yield beam.pvalue.TaggedOutput(ERRORS, dead_letter)
