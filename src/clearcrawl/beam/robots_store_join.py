"""Today's robots.txt from a robots store (`--robots-store DIR`), for run and refilter.

    ReadRobotsStore   store folder -> (origin, CurrentRobots), one per origin, streamed
                      one row group at a time (crawl_robots.PairWithCrawlRobots joins
                      them with the documents by origin: no side input holds the store)
    ApplyNewerStoreFn refilter: a previous output's Decided, paired with the newer
                      store's row of its origin, re-decided (core.store_decisions)
"""

from __future__ import annotations

import dataclasses
import os

import apache_beam as beam

from clearcrawl.beam.workers import load_snapshot
from clearcrawl.core.policy import sort_evidence
from clearcrawl.core.robots import path_params_query
from clearcrawl.core.robots_fetches import current_robots
from clearcrawl.core.signals import SignalContext, current_robots_evidence
from clearcrawl.core.store_decisions import redecide, store_label
from clearcrawl.core.urls import normalize_path
from clearcrawl.robots_store.reading import iter_applicable, summarize


def store_block(folder: str) -> dict:
    """The manifest's `robots_store` (in options, so in run_id): what was applied."""
    summary = summarize(folder)
    return {"path": os.path.abspath(folder), "store_id": summary["store_id"],
            "label": store_label(summary["store_id"]),
            "first_fetch": summary["first_fetch"], "last_fetch": summary["last_fetch"],
            "origins": summary["origins"],
            "origins_with_success": summary["origins_with_success"]}


class ReadRobotsStore(beam.PTransform):
    """PBegin -> PCollection[(origin, CurrentRobots)]: each origin of the store once,
    its mode decided by `robots_unreachable_is_optout`."""

    def __init__(self, folder: str, unreachable_is_optout: bool):
        super().__init__()
        self._folder = folder
        self._optout = unreachable_is_optout

    def expand(self, pbegin):
        optout = self._optout
        return (pbegin
                | "ListStore" >> beam.Create([self._folder])
                | "ReadApplicable" >> beam.FlatMap(
                    lambda folder: ((f.origin, current_robots([f], optout))
                                    for f in iter_applicable(folder))))


class ApplyNewerStoreFn(beam.DoFn):
    """A batch of (Decided, None, RobotsCapture | None) and ReadFailures -> the batch
    with each document's store evidence taken from the newer store; restorable
    documents keep the older store's evidence (see core.store_decisions.redecide)."""

    def __init__(self, snapshot_uri: str):
        self._snapshot_uri = snapshot_uri

    def setup(self):
        policy = load_snapshot(self._snapshot_uri).policy
        self._ctx = SignalContext(policy, lambda _: None, lambda _: None, lambda _: None)

    def process(self, records: list):
        out = []
        for record in records:
            if not isinstance(record, tuple):
                out.append(record)
                continue
            decided, _, today = record
            fresh = []
            if today is not None:
                path = normalize_path(path_params_query(decided.doc.url))
                fresh = current_robots_evidence(today, path, self._ctx)
            evidence, _ = redecide(list(decided.evidence), fresh)
            out.append(dataclasses.replace(decided, evidence=tuple(sort_evidence(evidence))))
        yield out
