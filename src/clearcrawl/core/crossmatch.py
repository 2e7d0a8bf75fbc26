"""Matching across records by join keys: the pure half of the band-key joins.

Two joins use it, both keyed by 64-bit LSH keys and grouped by key shard:
- works (distributed strategy): documents and registry works meet on band keys,
  and anchor keys; a pair becomes a candidate by the same rule
  as the broadcast index (`works.WorkMatcher.candidate_pairs`);
- propagation: kept documents meet documents removed for an opt-out or piracy
  reason on band keys; the kept document is then verified against the removed
  one and, if near enough, removed too, naming it (`near_duplicate_of_removed`).
Key entries are tuples so they travel cheaply through a shuffle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from clearcrawl import reasons
from clearcrawl.core import lsh
from clearcrawl.core.minhash import estimated_jaccard
from clearcrawl.records import Evidence, FastPickle, fast_pickle

# Entry tags.
DOC_BAND, DOC_ANCHOR = "db", "da"
WORK_BAND, WORK_ANCHOR = "wb", "wa"
SOURCE, TARGET = "s", "t"
# Texts shorter than this (in shingles, about as many words) take no part in
# propagation: short boilerplate pages are alike everywhere without being copies.
MIN_PROPAGATION_SHINGLES = 25
MAX_SOURCES_NAMED = 5  # a page copied in a large cluster names its 5 nearest removed copies


def shard_of(key: int, shards: int) -> int:
    return int(key) % shards


def removes(evidence) -> bool:
    return any(e.kind in reasons.KIND_ORDER for e in evidence)


def is_source(evidence) -> bool:
    """Removed for a direct reason: opt-out signals, domain rules, piracy, works (one hop)."""
    return any(e.kind in reasons.KIND_ORDER and e.kind != reasons.NEAR_DUPLICATE_OF_REMOVED
               for e in evidence)


@fast_pickle
@dataclass(frozen=True, slots=True)
class RemovedSource(FastPickle):
    """What a kept document needs to know of a removed near-duplicate candidate."""

    doc_id: str
    url: str
    kinds: str          # the source's removal kinds, comma-joined
    signature: bytes


@fast_pickle
@dataclass(frozen=True, slots=True)
class WorkCandidate(FastPickle):
    """A registry work that a document must be verified against (distributed strategy)."""

    index: int
    record: dict        # the work's snapshot record (fingerprint, no text)


def work_pairs(entries) -> dict[tuple[str, int], list]:
    """Shard entries -> {(doc_id, work index): [band hit, anchor hits, anchor count]}."""
    by_key: dict[tuple[str, int], list] = defaultdict(lambda: ([], []))
    for entry in entries:
        tag, key = entry[0], entry[1]
        kind = tag[1]  # "b" band, "a" anchor
        docs, works = by_key[(kind, key)]
        (docs if tag[0] == "d" else works).append(entry)
    pairs: dict[tuple[str, int], list] = {}
    for (kind, _), (docs, works) in by_key.items():
        for _, _, doc_id in docs:
            for work in works:
                state = pairs.setdefault((doc_id, work[2]), [False, 0, work[3]])
                if kind == "b":
                    state[0] = True
                else:
                    state[1] += 1
    return pairs


def merge_pair_states(states) -> list:
    """Combine one (doc, work) pair's states from several shards."""
    band, anchors, count = False, 0, 0
    for b, a, c in states:
        band, anchors, count = band or b, anchors + a, max(count, c)
    return [band, anchors, count]


def is_work_candidate(state) -> bool:
    band, anchors, count = state
    return band or (count > 0 and anchors >= lsh.anchors_needed(count))


def propagation_pairs(entries) -> dict[str, dict[str, RemovedSource]]:
    """Shard entries -> {target doc_id: {source doc_id: RemovedSource}} sharing a band key."""
    by_key: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for entry in entries:
        sources, targets = by_key[entry[1]]
        (sources if entry[0] == SOURCE else targets).append(entry)
    found: dict[str, dict[str, RemovedSource]] = {}
    for sources, targets in by_key.values():
        if not sources or not targets:
            continue
        for target in targets:
            named = found.setdefault(target[2], {})
            for source in sources:
                named[source[2]] = source[3]
    return found


def propagation_evidence(signature: bytes, sources, threshold: float) -> list[Evidence]:
    """Verified near-duplicates of removed documents, nearest first, at most a few."""
    if not signature:
        return []
    own = np.frombuffer(signature, "<u4")
    scored = []
    for source in {s.doc_id: s for s in sources}.values():
        score = estimated_jaccard(own, np.frombuffer(source.signature, "<u4"))
        if score >= threshold:
            scored.append((-score, source.doc_id, source))
    scored.sort()
    return [Evidence(reasons.NEAR_DUPLICATE_OF_REMOVED, source.doc_id,
                     f"near-duplicate (estimated jaccard {-neg:.3f}) of {source.url}, "
                     f"removed for {source.kinds}", round(-neg, 4))
            for neg, _, source in scored[:MAX_SOURCES_NAMED]]
