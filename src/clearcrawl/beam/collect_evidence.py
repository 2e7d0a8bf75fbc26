"""Collect evidence: each document's domain rules, opt-out signals (with its robots.txt
captures and robots store row, if given), fingerprint and, with the broadcast works
strategy, registered works. No decision is made here (see decide.py)."""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from clearcrawl.beam.config import BROADCAST, NO_WORKS, RunConfig
from clearcrawl.beam.crawl_robots import PairWithCrawlRobots
from clearcrawl.beam.process import tune_process
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.beam.workers import load_snapshot
from clearcrawl.core import lsh
from clearcrawl.core.minhash import fingerprint_batch
from clearcrawl.core.policy import sort_evidence
from clearcrawl.core.robots import RobotsTxt
from clearcrawl.core.signals import RobotsCapture, SignalContext, evaluate
from clearcrawl.core.works import DocPrint
from clearcrawl.records import Decided, Document


class CollectEvidence(beam.PTransform):
    """PCollection[list[Document | ReadFailure]] -> PCollection[list[Decided |
    ReadFailure]]: each document with its direct evidence and fingerprint.

    Documents travel in batches (ReadShards makes them): fingerprints and the
    broadcast works search are vectorised over a batch, and Beam's cost per element is
    paid once. `captures`, if given, is the (origin, Resolved) PCollection of
    crawl-time robots.txt captures (crawl_robots.ResolveRobotsRedirects), `store` the
    (origin, CurrentRobots) rows of a robots store (robots_store_join.ReadRobotsStore):
    both joined with the documents by origin, in one join.
    """

    def __init__(self, config: RunConfig, shuffles: ShuffleCounts, captures=None,
                 store=None):
        super().__init__()
        self._config = config
        self._shuffles = shuffles
        self._captures = captures
        self._store = store

    def expand(self, batches):
        if self._captures is not None or self._store is not None:
            batches = batches | "PairWithCrawlRobots" >> PairWithCrawlRobots(
                self._captures, self._config.staging, self._shuffles, store=self._store,
                store_label=self._config.store_label)
        return batches | "Collect" >> beam.ParDo(CollectEvidenceFn(self._config))


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


class CollectEvidenceFn(beam.DoFn):
    """Document -> Decided (its direct evidence, not yet its decision): domain rules,
    opt-out signals and (broadcast strategy) registered works; plus the fingerprint
    that cross-document matching needs.

    A record is a Document, a ReadFailure, or (Document, RobotsCapture | None,
    RobotsCapture | None) when crawl-time robots.txt captures or a robots store were
    given (crawl_robots.PairWithCrawlRobots).
    `config.works`: "broadcast" matches works here, "join" leaves them to MatchWorks,
    "none" skips content matching of works; `config.propagate` keeps the signature.
    """

    def __init__(self, config: RunConfig):
        self._snapshot_uri = config.snapshot_uri
        self._works = config.works
        self._propagate = config.propagate

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
        has_works = self._works != NO_WORKS and self._snapshot.works_count > 0
        self._matcher = self._snapshot.work_matcher if (
            has_works and self._works == BROADCAST) else None
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
            fingerprints = fingerprint_batch([doc.text for doc in batch], self._params)
            prints = fingerprints.prints
            anchors = lsh.anchors_of_runs(fingerprints.shingles, fingerprints.ends)
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
                signature = fp.signature.astype("<u4", copy=False).tobytes()
                anchors = doc_print.anchors.astype("<u8", copy=False).tobytes()
        # One piece of evidence (or none) is already sorted and unique.
        decided = Decided(doc, tuple(sort_evidence(evidence) if len(evidence) > 1 else evidence),
                          license_, signature, anchors, shingle_count)
        return decided, doc_print

