"""Crawl-time robots.txt: captures read, redirects resolved, and each page paired with
the capture in force when it was fetched, by keyed joins (no worker holds every
capture). The rules are core.crawl_captures'; this module only moves data:

    ReadRobotsCaptures      robots WARC URIs -> Capture
    ResolveRobotsRedirects  Capture -> (origin, Resolved): one CoGroupByKey round per
                            redirect followed, MAX_REDIRECTS rounds at most
    PairWithCrawlRobots     batches of records -> batches whose documents carry their
                            RobotsCapture and today's store row: spilled, their
                            origins joined with the captures and the store, both
                            brought to each spill file
"""

from __future__ import annotations

import pickle
import uuid

import apache_beam as beam

from clearcrawl.beam.outputs import create_uri, open_uri
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.beam.workers import in_global_window
from clearcrawl.core import crawl_captures
from clearcrawl.core.crawl_captures import MAX_REDIRECTS, InForce, Pending, capture_key
from clearcrawl.core.store_decisions import store_capture
from clearcrawl.io.robots_captures import read_captures
from clearcrawl.records import Decided, Document

SPILL = "read"  # staging folder of read batches waiting for their captures


class ReadRobotsCaptures(beam.PTransform):
    """PCollection[str robots WARC URI] -> PCollection[Capture], every response record."""

    def __init__(self, shuffles: ShuffleCounts):
        super().__init__()
        self._shuffles = shuffles

    def expand(self, uris):
        return (self._shuffles.reshuffle("SpreadRobotsShards", uris)
                | "ReadCaptures" >> beam.FlatMap(_read_captures))


def _read_captures(uri: str):
    with open_uri(uri) as fh:
        yield from read_captures(uri, fh)


def _split_states(states, label: str):
    """(resolved, pending) of a PCollection of Resolved | Pending."""
    parts = states | label >> beam.Partition(lambda s, _: int(isinstance(s, Pending)), 2)
    return parts[0], parts[1]


class ResolveRobotsRedirects(beam.PTransform):
    """PCollection[Capture] -> PCollection[(origin, Resolved)]: every robots.txt capture
    with its redirects followed through the other captures. Round i joins the chains
    waiting for their i-th redirect with the captures of their target URL; after
    MAX_REDIRECTS rounds none is left waiting (crawl_captures ends longer chains)."""

    def __init__(self, shuffles: ShuffleCounts):
        super().__init__()
        self._shuffles = shuffles

    def expand(self, captures):
        by_url = captures | "KeyByUrl" >> beam.Map(lambda c: (capture_key(c.url), c))
        starts = (captures
                  | "RobotsUrlsOnly" >> beam.Filter(
                      lambda c: crawl_captures.is_robots_url(c.url))
                  | "Start" >> beam.Map(crawl_captures.start))
        resolved, pending = _split_states(starts, "SplitStart")
        done = [resolved]
        for hop in range(1, MAX_REDIRECTS + 1):
            waiting = pending | f"KeyByTarget{hop}" >> beam.Map(lambda p: (p.target_key, p))
            followed = (self._shuffles.co_group_by_key(
                            f"JoinTargets{hop}", {"pending": waiting, "captures": by_url})
                        | f"Follow{hop}" >> beam.FlatMap(_follow))
            resolved, pending = _split_states(followed, f"SplitFollowed{hop}")
            done.append(resolved)
        return (done
                | "AllResolved" >> beam.Flatten()
                | "KeyByOrigin" >> beam.Map(lambda r: (r.origin, r)))


def _follow(joined):
    _, grouped = joined
    pending = list(grouped["pending"])
    if not pending:
        return
    candidates = list(grouped["captures"])
    for chain in pending:
        yield crawl_captures.follow(chain, candidates)


class PairWithCrawlRobots(beam.PTransform):
    """PCollection[list[Document | Decided | ReadFailure]] -> the same records in
    batches, each Document (or Decided) as (record, RobotsCapture | None, RobotsCapture
    | None): the crawl-time capture of its origin in force at its fetch time (None: the
    origin was never captured, so no restriction), and today's robots.txt of its
    origin from a robots store (None: no store, or nothing restricted there).

    Documents never cross a shuffle (their texts would, and a local runner holds a
    shuffle in memory). Each bundle's batches go to a spill file under the staging
    folder as they are read; the spill file's origins meet the resolved captures and
    the store rows in a CoGroupByKey on origin; a second one, on the spill file, brings
    each file what its own origins have; the file is then read back, batch by batch.
    So only (origin, file) pairs, captures and store rows move, and a worker holds
    those of one spill file's origins. `resolved`: (origin, Resolved) captures or
    None; `store`: (origin, CurrentRobots) or None, with `store_label` naming the store
    in evidence.
    """

    def __init__(self, resolved, staging: str, shuffles: ShuffleCounts, store=None,
                 store_label: str = ""):
        super().__init__()
        self._resolved = resolved
        self._staging = staging
        self._shuffles = shuffles
        self._store = store
        self._store_label = store_label

    def expand(self, batches):
        spilled = batches | "Spill" >> beam.ParDo(_SpillFn(self._staging)).with_outputs(
            _ORIGINS, main="files")
        joined = {"files": spilled[_ORIGINS]}
        if self._resolved is not None:
            joined["captures"] = self._resolved
        if self._store is not None:
            joined["store"] = self._store
        wanted = (self._shuffles.co_group_by_key("JoinOrigins", joined)
                  | "CapturesToFiles" >> beam.FlatMap(_captures_to_files))
        files = spilled.files | "KeyFile" >> beam.Map(lambda uri: (uri, None))
        return (self._shuffles.co_group_by_key("JoinFiles", {"file": files, "captures": wanted})
                | "PairInForce" >> beam.ParDo(_PairInForceFn(self._store_label)))


_ORIGINS = "origins"


def _document(record) -> Document | None:
    if isinstance(record, Document):
        return record
    if isinstance(record, Decided):
        return record.doc
    return None


class _SpillFn(beam.DoFn):
    """Batches -> the bundle's spill file URI, and tagged (origin, URI) once per origin
    of its documents."""

    def __init__(self, staging: str):
        self._staging = staging.rstrip("/")

    def start_bundle(self):
        self._uri = f"{self._staging}/{SPILL}/{uuid.uuid4().hex}.pickle"
        self._file = None
        self._origins: set[str] = set()

    def process(self, records):
        if self._file is None:
            self._file = create_uri(self._uri)
        pickle.dump(records, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._origins.update(doc.origin for doc in map(_document, records)
                             if doc is not None)
        return ()

    def finish_bundle(self):
        if self._file is None:
            return
        self._file.close()  # before the bundle ends, and so before anyone reads it
        yield in_global_window(self._uri)
        for origin in sorted(self._origins):
            yield beam.pvalue.TaggedOutput(_ORIGINS, in_global_window((origin, self._uri)))


def _captures_to_files(joined):
    origin, grouped = joined
    captures = list(grouped.get("captures", ()))
    current = next(iter(grouped.get("store", ())), None)  # one row per origin
    if captures or current is not None:
        for uri in grouped["files"]:
            yield uri, (origin, captures, current)


class _PairInForceFn(beam.DoFn):
    """(spill URI, {captures: [(origin, [Resolved], CurrentRobots | None)]}) -> its
    batches, documents as (record, crawl-time capture in force, today's store row),
    each origin's captures parsed once per file."""

    def __init__(self, store_label: str = ""):
        self._store_label = store_label

    def process(self, joined):
        uri, grouped = joined
        in_force = {origin: (InForce(captures) if captures else None,
                             store_capture(current, self._store_label))
                    for origin, captures, current in grouped["captures"]}
        with open_uri(uri) as fh:
            while True:
                try:
                    records = pickle.load(fh)
                except EOFError:
                    break
                yield [self._pair(r, in_force) if _document(r) is not None else r
                       for r in records]

    @staticmethod
    def _pair(record, in_force: dict):
        doc = _document(record)
        captures, today = in_force.get(doc.origin, (None, None))
        return record, None if captures is None else captures.robots_at(doc.fetch_time), today
