"""Crawl-time robots.txt: captures read, redirects resolved, and each page paired with
the capture in force when it was fetched, by keyed joins (no worker holds every
capture). The rules are core.crawl_captures'; this module only moves data:

    ReadRobotsCaptures      robots WARC URIs -> Capture
    ResolveRobotsRedirects  Capture -> (origin, Resolved): one CoGroupByKey round per
                            redirect followed, MAX_REDIRECTS rounds at most
    PairWithCrawlRobots     batches of records -> batches whose documents carry their
                            RobotsCapture, by a CoGroupByKey on origin
"""

from __future__ import annotations

import apache_beam as beam

from clearcrawl.beam.outputs import open_uri
from clearcrawl.core import crawl_captures
from clearcrawl.core.crawl_captures import MAX_REDIRECTS, InForce, Pending, capture_key
from clearcrawl.core.urls import origin_key
from clearcrawl.io.robots_captures import read_captures
from clearcrawl.records import Document

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
    """PCollection[list[Document | ReadFailure]] -> the same records in batches, each
    Document as (Document, RobotsCapture | None): the capture of its origin in force
    at its fetch time (None: the origin was never captured, so no restriction).

    Documents meet captures in a CoGroupByKey on origin. A batch's documents go in
    as one element per origin, and an origin's documents come out in batches as
    they are iterated, so no step holds an origin's documents at once (beyond what
    the runner's grouping itself holds). Read failures skip the join.
    """

    def __init__(self, resolved, batch: int = 64):
        super().__init__()
        self._resolved = resolved
        self._batch = batch

    def expand(self, batches):
        split = batches | "KeyByOrigin" >> beam.ParDo(_KeyByOriginFn()).with_outputs(
            _FAILURES, main="docs")
        paired = ({"captures": self._resolved, "docs": split.docs}
                  | "JoinOrigins" >> beam.CoGroupByKey()
                  | "PairInForce" >> beam.ParDo(_PairInForceFn(self._batch)))
        return (paired, split[_FAILURES]) | "WithFailures" >> beam.Flatten()


class _KeyByOriginFn(beam.DoFn):
    """A batch -> (origin, [documents of that origin]) per origin, and its failures."""

    def process(self, records):
        by_origin: dict[str, list[Document]] = {}
        failures = []
        for record in records:
            if isinstance(record, Document):
                by_origin.setdefault(origin_key(record.url), []).append(record)
            else:
                failures.append(record)
        yield from by_origin.items()
        if failures:
            yield beam.pvalue.TaggedOutput(_FAILURES, failures)


class _PairInForceFn(beam.DoFn):
    def __init__(self, batch: int):
        self._batch = batch

    def process(self, joined):
        _, grouped = joined
        captures = list(grouped["captures"])
        in_force = InForce(captures) if captures else None
        batch = []
        for docs in grouped["docs"]:
            for doc in docs:
                batch.append((doc, None if in_force is None
                              else in_force.robots_at(doc.fetch_time)))
                if len(batch) == self._batch:
                    yield batch
                    batch = []
        if batch:
            yield batch
