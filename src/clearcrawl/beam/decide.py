"""Decide: each document's direct decision (core.policy.decide), staged to Arrow files
with the band keys that propagation needs."""

from __future__ import annotations

import uuid

import apache_beam as beam

from clearcrawl.beam.config import RunConfig
from clearcrawl.beam.outputs import ArrowFileOutput
from clearcrawl.beam.process import tune_process
from clearcrawl.beam.workers import STAGED, in_global_window, load_snapshot
from clearcrawl.core import crossmatch
from clearcrawl.core.policy import decide
from clearcrawl.core.rows import StagedRows
from clearcrawl.records import STAGED_SCHEMA, Decided, ReadFailure

KEYS = "keys"
SOURCES = "sources"  # removed documents' signatures, once each, for the propagation join
_ROW_GROUP_ROWS = 4096
_FLUSH_KEY_DOCS = 8192


class Decide(beam.PTransform):
    """PCollection[list[Decided | ReadFailure]] -> {"staged": staged Arrow file URIs,
    "keys": (shard, KeyBlock bytes), "sources": (staged file name, [RemovedSource])}
    (StageDecidedFn; keys and sources are empty without propagation).

    Decided documents are staged to Arrow files as they come, so only band keys (and
    removed documents' signatures) wait for propagation, whatever the crawl's size.
    """

    def __init__(self, config: RunConfig):
        super().__init__()
        self._config = config

    def expand(self, batches):
        staged = batches | "Stage" >> beam.ParDo(StageDecidedFn(self._config)).with_outputs(
            KEYS, SOURCES, main="files")
        return {"staged": staged.files, "keys": staged[KEYS], "sources": staged[SOURCES]}


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

    def __init__(self, config: RunConfig):
        self._snapshot_uri = config.snapshot_uri
        self._staging = config.staging.rstrip("/")
        self._propagate = config.propagate
        self._shards = config.match_shards

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

