"""Crawl-time robots.txt: captures read, redirects resolved, and each page paired with
the capture in force when it was fetched, by keyed joins (no worker holds every
capture). The rules are core.crawl_captures'; this module only moves data:

    ReadRobotsCaptures      robots WARC URIs -> Capture
    ResolveRobotsRedirects  Capture -> (origin, Resolved): one CoGroupByKey round per
                            redirect followed, MAX_REDIRECTS rounds at most
    PairWithCrawlRobots     batches of records -> batches whose documents carry their
                            RobotsCapture and today's store row, by one CoGroupByKey
                            on origin
"""

from __future__ import annotations

import apache_beam as beam

from clearcrawl.beam.outputs import open_uri
from clearcrawl.core import crawl_captures
from clearcrawl.core.crawl_captures import MAX_REDIRECTS, InForce, Pending, capture_key
from clearcrawl.core.store_decisions import store_capture
from clearcrawl.core.urls import origin_key
from clearcrawl.io.robots_captures import read_captures
from clearcrawl.records import Decided, Document

_FAILURES = "failures"


class ReadRobotsCaptures(beam.PTransform):
    """PCollection[str robots WARC URI] -> PCollection[Capture], every response record."""

    def expand(self, uris):
        return (uris
                | "SpreadRobotsShards" >> beam.Reshuffle()
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

    def expand(self, captures):
        by_url = captures | "KeyByUrl" >> beam.Map(lambda c: (capture_key(c.url), c))
        starts = (captures
                  | "RobotsUrlsOnly" >> beam.Filter(
                      lambda c: crawl_captures.is_robots_url(c.url))
                  | "Start" >> beam.Map(crawl_captures.start))
        resolved, pending = _split_states(starts, "SplitStart")
        done = [resolved]
        for hop in range(1, MAX_REDIRECTS + 1):
            followed = ({"pending": pending | f"KeyByTarget{hop}" >> beam.Map(
                            lambda p: (p.target_key, p)),
                         "captures": by_url}
                        | f"JoinTargets{hop}" >> beam.CoGroupByKey()
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

    Documents meet captures and the store rows in one CoGroupByKey on origin.
    `resolved`: (origin, Resolved) captures or None; `store`: (origin, CurrentRobots)
    or None, with `store_label` naming the store in evidence. A batch's documents go
    in as one element per origin, and an origin's documents come out in batches as
    they are iterated, so no step holds an origin's documents at once (beyond what
    the runner's grouping itself holds). Read failures skip the join.
    """

    def __init__(self, resolved, batch: int = 64, store=None, store_label: str = ""):
        super().__init__()
        self._resolved = resolved
        self._store = store
        self._store_label = store_label
        self._batch = batch

    def expand(self, batches):
        split = batches | "KeyByOrigin" >> beam.ParDo(_KeyByOriginFn()).with_outputs(
            _FAILURES, main="docs")
        joined = {"docs": split.docs}
        if self._resolved is not None:
            joined["captures"] = self._resolved
        if self._store is not None:
            joined["store"] = self._store
        paired = (joined
                  | "JoinOrigins" >> beam.CoGroupByKey()
                  | "PairInForce" >> beam.ParDo(_PairInForceFn(self._batch, self._store_label)))
        return (paired, split[_FAILURES]) | "WithFailures" >> beam.Flatten()


def _document(record) -> Document | None:
    if isinstance(record, Document):
        return record
    if isinstance(record, Decided):
        return record.doc
    return None


class _KeyByOriginFn(beam.DoFn):
    """A batch -> (origin, [documents of that origin]) per origin, and its failures."""

    def process(self, records):
        by_origin: dict[str, list] = {}
        failures = []
        for record in records:
            doc = _document(record)
            if doc is not None:
                by_origin.setdefault(origin_key(doc.url), []).append(record)
            else:
                failures.append(record)
        yield from by_origin.items()
        if failures:
            yield beam.pvalue.TaggedOutput(_FAILURES, failures)


class _PairInForceFn(beam.DoFn):
    def __init__(self, batch: int, store_label: str = ""):
        self._batch = batch
        self._store_label = store_label

    def process(self, joined):
        _, grouped = joined
        captures = list(grouped.get("captures", ()))
        in_force = InForce(captures) if captures else None
        current = next(iter(grouped.get("store", ())), None)  # one row per origin
        today = store_capture(current, self._store_label)
        batch = []
        for docs in grouped["docs"]:
            for record in docs:
                crawl = (None if in_force is None
                         else in_force.robots_at(_document(record).fetch_time))
                batch.append((record, crawl, today))
                if len(batch) == self._batch:
                    yield batch
                    batch = []
        if batch:
            yield batch
