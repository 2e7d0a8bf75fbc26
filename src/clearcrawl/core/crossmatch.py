"""Matching across records by join keys: the pure half of the band-key joins.

Two joins use it, both keyed by 64-bit LSH keys and grouped by key shard:
- works (distributed strategy): documents and registry works meet on band keys,
  and anchor keys; a pair becomes a candidate by the same rule
  as the broadcast index (`works.WorkMatcher.candidate_pairs`);
- propagation: kept documents meet documents removed for an opt-out or piracy
  reason on band keys; the kept document is then verified against the removed
  one and, if near enough, removed too, naming it (`near_duplicate_of_removed`).
Work-join entries are tuples; propagation entries travel in columns (KeyBlock), and
the removed documents' signatures once each, beside them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from clearcrawl import reasons
from clearcrawl.core import lsh
from clearcrawl.core.minhash import estimated_jaccard
from clearcrawl.records import Evidence, FastPickle, fast_pickle

# Entry tags.
DOC_BAND, DOC_ANCHOR = "db", "da"
WORK_BAND, WORK_ANCHOR = "wb", "wa"
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


_KEYS_SCHEMA = pa.schema([("key", pa.uint64()), ("owner", pa.int32())])
_OWNERS_SCHEMA = pa.schema([("doc_id", pa.string()), ("source", pa.bool_())])


@dataclass(frozen=True)
class KeyBlock:
    """Band keys of documents in columns, for the propagation join: `keys[i]` belongs to
    document `owners[i]`, whose doc_id is `doc_ids[owners[i]]`, removed for a direct
    reason if `sources[owners[i]]` (a source), else kept (a target). Each document is
    stored once per block, whatever its number of keys; Python touches documents, never
    keys. `file` names the staged file its documents are in (a block comes from one
    bundle, which stages one file): found pairs are keyed by it. A source's signature
    is not here: a document's keys fall in up to one shard per band, its signature
    travels once (PropagationKeys.drain)."""

    keys: np.ndarray          # uint64
    owners: np.ndarray        # int32 index into doc_ids
    doc_ids: list[str]
    sources: np.ndarray       # bool, one per doc_id
    file: str = ""

    def to_bytes(self) -> bytes:
        """Two Arrow IPC messages (keys and owners; doc_ids and source flags) and the
        file name, each length-prefixed: what travels through the shuffle."""
        parts = [pa.record_batch([pa.array(self.keys), pa.array(self.owners)],
                                 schema=_KEYS_SCHEMA).serialize().to_pybytes(),
                 pa.record_batch([pa.array(self.doc_ids, pa.string()),
                                  pa.array(self.sources, pa.bool_())],
                                 schema=_OWNERS_SCHEMA).serialize().to_pybytes(),
                 self.file.encode()]
        return b"".join(len(part).to_bytes(8, "little") + part for part in parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyBlock:
        buffer, parts, at = pa.py_buffer(data), [], 0
        for schema in (_KEYS_SCHEMA, _OWNERS_SCHEMA):
            size = int.from_bytes(data[at: at + 8], "little")
            parts.append(pa.ipc.read_record_batch(buffer.slice(at + 8, size), schema))
            at += 8 + size
        size = int.from_bytes(data[at: at + 8], "little")
        keys, owners = parts
        return cls(keys.column(0).to_numpy(), keys.column(1).to_numpy(),
                   owners.column(0).to_pylist(),
                   owners.column(1).to_numpy(zero_copy_only=False).astype(bool),
                   data[at + 8: at + 8 + size].decode())


class PropagationKeys:
    """Band keys of decided documents for the propagation join, buffered in columns:
    removed for a direct reason (sources, with what a target needs to know of them)
    and kept (targets). `drain()` splits the keys into one KeyBlock per shard."""

    def __init__(self, bands: tuple[int, int], shards: int):
        self._bands, self._shards = bands, shards
        self._keys: list[np.ndarray] = []
        self._doc_ids: list[str] = []
        self._is_source: list[bool] = []
        self._sources: list[RemovedSource] = []

    def __len__(self) -> int:
        return len(self._doc_ids)

    def add(self, batch) -> None:
        """Decided documents (records.Decided, any iterable); those too short or removed
        only as near-duplicates take no part."""
        signatures = []
        for decided in batch:
            # Short pages ("Page not found") are alike everywhere without being copies.
            if decided.shingle_count < MIN_PROPAGATION_SHINGLES or not decided.signature:
                continue
            doc = decided.doc
            source = is_source(decided.evidence)
            if source:
                kinds = ",".join(dict.fromkeys(e.kind for e in decided.evidence))
                self._sources.append(RemovedSource(doc.doc_id, doc.url, kinds,
                                                   decided.signature))
            elif removes(decided.evidence):
                continue
            signatures.append(decided.signature)
            self._doc_ids.append(doc.doc_id)
            self._is_source.append(source)
        if signatures:
            matrix = np.frombuffer(b"".join(signatures), "<u4").reshape(len(signatures), -1)
            self._keys.append(lsh.band_keys(matrix, *self._bands))

    def drain(self, file: str = "") -> tuple[list[tuple[int, KeyBlock]], list[RemovedSource]]:
        """([(shard, KeyBlock)], [RemovedSource]) of the documents buffered, all staged
        in `file`: the keys by shard, and each source once, with its signature."""
        sources, self._sources = self._sources, []
        if not self._doc_ids:
            return [], sources
        keys = np.concatenate(self._keys)
        owners = np.repeat(np.arange(keys.shape[0], dtype=np.int32), keys.shape[1])
        keys = keys.ravel()
        doc_ids, flags = self._doc_ids, np.array(self._is_source, bool)
        self._keys, self._doc_ids, self._is_source = [], [], []
        if self._shards == 1:
            return [(0, KeyBlock(keys, owners, doc_ids, flags, file))], sources
        shard = (keys % np.uint64(self._shards)).astype(np.int64)
        order = np.argsort(shard, kind="stable")
        bounds = np.searchsorted(shard[order], np.arange(self._shards + 1))
        blocks = []
        for number in range(self._shards):
            at = order[bounds[number]:bounds[number + 1]]
            if at.size:
                present, local = np.unique(owners[at], return_inverse=True)
                blocks.append((number, KeyBlock(keys[at], local.astype(np.int32),
                                                [doc_ids[i] for i in present.tolist()],
                                                flags[present], file)))
        return blocks, sources


def propagation_pairs(blocks: list[KeyBlock]) -> dict[str, list[tuple[str, str, str]]]:
    """{source's staged file: [(source doc_id, target's staged file, target doc_id)]}:
    every removed source and kept target that share a key in these blocks (one key
    shard's), each pair once. Keys are grouped by sorting, so only the (few) shared
    keys cost Python work."""
    blocks = [b for b in blocks if b.keys.size]
    if not blocks:
        return {}
    starts_at = np.cumsum([0] + [len(b.doc_ids) for b in blocks[:-1]])
    doc_ids = [d for b in blocks for d in b.doc_ids]
    files = [b.file for b in blocks for _ in b.doc_ids]
    is_source = np.concatenate([b.sources for b in blocks])
    all_keys = np.concatenate([b.keys for b in blocks])
    all_owners = np.concatenate([b.owners + at for b, at in zip(blocks, starts_at)])
    order = np.argsort(all_keys, kind="stable")
    keys, owners = all_keys[order], all_owners[order]
    sources = is_source[owners]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.append(starts[1:], keys.size)
    with_source = np.logical_or.reduceat(sources, starts)
    with_target = np.logical_or.reduceat(~sources, starts)
    found: set[tuple[str, str, str, str]] = set()
    for group in np.flatnonzero(with_source & with_target).tolist():
        members = owners[starts[group]:ends[group]].tolist()
        removed = [(files[i], doc_ids[i]) for i in members if is_source[i]]
        for i in members:
            if not is_source[i]:
                found.update((*source, files[i], doc_ids[i]) for source in removed)
    by_file: dict[str, list[tuple[str, str, str]]] = {}
    for source_file, *pair in sorted(found):
        by_file.setdefault(source_file, []).append(tuple(pair))
    return by_file


def name_sources(sources, wanted) -> dict[str, list[tuple[str, RemovedSource]]]:
    """One staged file's sources ([RemovedSource]) and the pairs naming them ([(source
    doc_id, target's staged file, target doc_id)]) -> {target's staged file: [(target
    doc_id, RemovedSource)]}: each pair now carries what its target needs to know."""
    by_id = {source.doc_id: source for source in sources}
    named: dict[str, list[tuple[str, RemovedSource]]] = {}
    for source_id, file, target in sorted(set(wanted)):
        named.setdefault(file, []).append((target, by_id[source_id]))
    return named


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
