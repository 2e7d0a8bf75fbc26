"""Propagate removals: kept documents that are near-duplicates of a document removed
for a direct reason (one hop), found by band-key joins over the staged files' keys.

Everything travels by value through the runner's shuffle, in three joins keyed by what
bounds them: band keys by key shard (finding (source, target) pairs by doc_id); the
pairs with their sources' signatures by the sources' staged file (a signature crosses
once, not once per shard its keys fall in); the named pairs with their targets by the
targets' staged file. A worker holds one shard's keys or one file's pairs, never the
crawl's. The same graph on every runner.
"""

from __future__ import annotations

import apache_beam as beam

from clearcrawl.beam.config import RunConfig
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.beam.workers import staged_name
from clearcrawl.core import crossmatch


class PropagateRemovals(beam.PTransform):
    """Decide's {"staged": PCollection[staged file URI], "keys": PCollection[(shard,
    KeyBlock bytes)], "sources": PCollection[(staged file name, [RemovedSource])]} ->
    PCollection[(staged file URI, [(target doc_id, RemovedSource)])]: each staged file
    with its kept documents that share a band key with a removed source, and those
    sources (no pairs at all without `config.propagate`)."""

    def __init__(self, config: RunConfig, shuffles: ShuffleCounts):
        super().__init__()
        self._config = config
        self._shuffles = shuffles

    def expand(self, pcolls):
        if not self._config.propagate:
            return pcolls["staged"] | "NoPairs" >> beam.Map(lambda uri: (uri, []))
        wanted = (self._shuffles.group_by_key("GroupShards", pcolls["keys"])
                  | "PairsInShard" >> beam.FlatMap(_shard_pairs))
        named = (self._shuffles.co_group_by_key("JoinSources",
                                         {"sources": pcolls["sources"], "wanted": wanted})
                 | "NameSources" >> beam.FlatMap(_name_sources))
        staged = pcolls["staged"] | "KeyByName" >> beam.Map(lambda uri: (staged_name(uri), uri))
        return (self._shuffles.co_group_by_key("JoinStagedFiles", {"staged": staged, "pairs": named})
                | "WithPairs" >> beam.FlatMap(_with_pairs))


def _shard_pairs(shard_group):
    """(shard, [KeyBlock bytes]) -> (source's staged file, [(source doc_id, target's
    staged file, target doc_id)]) for each file with a source in this key shard."""
    _, blocks = shard_group
    found = crossmatch.propagation_pairs([crossmatch.KeyBlock.from_bytes(b) for b in blocks])
    yield from found.items()


def _name_sources(joined):
    """(source's staged file, {"sources": [[RemovedSource]], "wanted": [[pair]]}) ->
    (target's staged file, [(target doc_id, RemovedSource)])."""
    _, groups = joined
    wanted = [pair for part in groups["wanted"] for pair in part]
    if wanted:
        sources = [source for part in groups["sources"] for source in part]
        yield from crossmatch.name_sources(sources, wanted).items()


def _with_pairs(joined):
    """(name, {"staged": [uri], "pairs": [[(target, source)]]}) -> (uri, pairs)."""
    _, groups = joined
    pairs = [pair for part in groups["pairs"] for pair in part]
    for uri in groups["staged"]:  # exactly one: a name is one bundle's staged file
        yield uri, pairs

