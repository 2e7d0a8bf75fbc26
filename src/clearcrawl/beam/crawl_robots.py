"""Crawl-time robots.txt: captures read, redirects resolved, and each page paired with
the capture in force when it was fetched, by keyed joins (no worker holds every
capture). The rules are core.crawl_captures'; this module only moves data:

    ReadRobotsCaptures      robots WARC URIs -> Capture
    ResolveRobotsRedirects  Capture -> (origin, Resolved): one CoGroupByKey round per
                            redirect followed, MAX_REDIRECTS rounds at most
    PairWithCrawlRobots     batches of records -> batches whose documents carry their
                            RobotsCapture: spilled, their origins joined with the
                            captures, the captures brought to each spill file
"""

from __future__ import annotations

import pickle
import uuid

import apache_beam as beam

from clearcrawl.beam.dofns import in_global_window
from clearcrawl.beam.outputs import create_uri, open_uri
from clearcrawl.core import crawl_captures
from clearcrawl.core.crawl_captures import MAX_REDIRECTS, InForce, Pending, capture_key
from clearcrawl.core.urls import origin_key
from clearcrawl.io.robots_captures import read_captures
from clearcrawl.records import Document

SPILL = "read"  # staging folder of read batches waiting for their captures


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

    Documents never cross a shuffle (their texts would, and a local runner holds a
    shuffle in memory). Each bundle's batches go to a spill file under the staging
    folder as they are read; the spill file's origins meet the resolved captures in
    a CoGroupByKey on origin; a second one, on the spill file, brings each file the
    captures of its own origins; the file is then read back, batch by batch. So only
    (origin, file) pairs and captures move, and a worker holds the captures of one
    spill file's origins.
    """

    def __init__(self, resolved, staging: str):
        super().__init__()
        self._resolved = resolved
        self._staging = staging

    def expand(self, batches):
        spilled = batches | "Spill" >> beam.ParDo(_SpillFn(self._staging)).with_outputs(
            _ORIGINS, main="files")
        wanted = ({"captures": self._resolved, "files": spilled[_ORIGINS]}
                  | "JoinOrigins" >> beam.CoGroupByKey()
                  | "CapturesToFiles" >> beam.FlatMap(_captures_to_files))
        return ({"file": spilled.files | "KeyFile" >> beam.Map(lambda uri: (uri, None)),
                 "captures": wanted}
                | "JoinFiles" >> beam.CoGroupByKey()
                | "PairInForce" >> beam.ParDo(_PairInForceFn()))


_ORIGINS = "origins"


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
        self._origins.update(origin_key(r.url) for r in records if isinstance(r, Document))
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
    captures = list(grouped["captures"])
    if captures:
        for uri in grouped["files"]:
            yield uri, (origin, captures)


class _PairInForceFn(beam.DoFn):
    """(spill URI, {captures: [(origin, [Resolved])]}) -> its batches, documents paired
    with the capture in force (each origin's captures parsed once per file)."""

    def process(self, joined):
        uri, grouped = joined
        in_force = {origin: InForce(captures) for origin, captures in grouped["captures"]}
        with open_uri(uri) as fh:
            while True:
                try:
                    records = pickle.load(fh)
                except EOFError:
                    break
                yield [self._pair(r, in_force) if isinstance(r, Document) else r
                       for r in records]

    @staticmethod
    def _pair(doc: Document, in_force: dict[str, InForce]):
        captures = in_force.get(origin_key(doc.url))
        return doc, None if captures is None else captures.robots_at(doc.fetch_time)
