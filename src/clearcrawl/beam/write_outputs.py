"""Write outputs: each staged file's final decisions (propagation applied), written as
its ledger, data, signatures and errors Parquet files in the staging folder; the
commit moves them into place."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from clearcrawl import reasons
from clearcrawl.audit.manifest import KEPT_TO_REMOVED
from clearcrawl.beam.config import RunConfig
from clearcrawl.beam.outputs import OutputSet, iter_arrow_file
from clearcrawl.beam.process import tune_process
from clearcrawl.beam.workers import CounterFamily, load_snapshot, staged_name
from clearcrawl.core.rows import (
    apply_propagation,
    kept_to_removed,
    refilter_changes,
    split_staged,
)

LEAVES = "leaves"  # (bucket, [(doc_id, leaf)]) of ledger rows, for the ledger root
_DRAIN_LEAVES = 100_000


class WriteOutputs(beam.PTransform):
    """PCollection[(staged file URI, [(target doc_id, RemovedSource)])] -> {"receipts": a
    receipt per file set written, "leaves": (bucket, [(doc_id, leaf)]) of the ledger
    rows} (FinalizeStagedFn)."""

    def __init__(self, config: RunConfig):
        super().__init__()
        self._config = config

    def expand(self, with_pairs):
        finalized = with_pairs | "Finalize" >> beam.ParDo(
            FinalizeStagedFn(self._config)).with_outputs(LEAVES, main="receipts")
        return {"receipts": finalized.receipts, "leaves": finalized[LEAVES]}


class FinalizeStagedFn(beam.DoFn):
    """(URI of a staged file, [(target doc_id, RemovedSource)]) -> its ledger, data,
    signatures and errors Parquet files (with `config.write_changes`, its changes and
    restorable files too) and their receipt, written under the staging folder one row
    group at a time, named after the staged file (so a retried bundle rewrites the same
    files). Yields the receipt, and tagged `leaves` the ledger rows' Merkle leaves by
    bucket.

    The pairs are what propagation found for the file's documents: the removed
    documents a kept one shares a band key with (a pair may come from several key
    shards). Every row's final decision is core.policy.decide's, and the progress
    counters count it here, once (never counted before, so never undone).
    """

    def __init__(self, config: RunConfig):
        self._snapshot_uri = config.snapshot_uri
        self._staging = config.staging.rstrip("/")
        self._changes = config.write_changes
        self._store_label = config.store_label
        self._kept = Metrics.counter("clearcrawl", "kept")
        self._removed = CounterFamily("removed")
        self._errors = CounterFamily("error")

    def setup(self):
        self._threshold = load_snapshot(self._snapshot_uri).policy.near_duplicate_threshold
        tune_process()

    def process(self, staged: tuple[str, list]):
        uri, pairs = staged
        by_target: dict[str, dict] = {}
        for target, source in pairs:
            by_target.setdefault(target, {})[source.doc_id] = source
        near = {target: list(sources.values()) for target, sources in by_target.items()}
        files = OutputSet(self._staging, f"{staged_name(uri)}.parquet",
                          with_changes=self._changes)
        moved = 0  # documents kept before, removed now (a refilter's)
        for table in iter_arrow_file(uri):
            table = apply_propagation(table, near, self._threshold)
            for folder, part in split_staged(table).items():
                files.write(folder, part)
                if folder == "errors":
                    for kind in part.column("error_kind").to_pylist():
                        self._errors.inc(kind)
            if self._changes:
                for folder, part in refilter_changes(table, self._store_label).items():
                    files.write(folder, part)
                    if folder == "changes":
                        moved += kept_to_removed(part)
            for item in files.drain_leaves(at_least=_DRAIN_LEAVES):
                yield beam.pvalue.TaggedOutput(LEAVES, item)
        for item in files.drain_leaves():
            yield beam.pvalue.TaggedOutput(LEAVES, item)
        described = files.close(**({KEPT_TO_REMOVED: moved} if self._changes else {}))
        self._count(described)
        yield described

    def _count(self, described: dict) -> None:
        """Kept and removed counters from the receipt's tally of the final rows (the
        same counts the commit adds up)."""
        kept = described["decisions"].get(reasons.KEEP, 0)
        if kept:
            self._kept.inc(kept)
        for kind, n in described["removed_by_kind"].items():
            self._removed.inc(kind, n)
