"""Registered works: their fingerprints, candidate search and verified matches.

A document matches a work when, after an LSH or anchor candidate hit:
- its normalised text has the work's exact hash (`work_exact`), or
- its shingle set's exact Jaccard with the work's, or the containment of the
  work in the document (a work quoted whole inside a longer page), reaches the
  policy threshold (`work_near_duplicate`). Where a work's shingles are not
  kept, the full-signature estimate decides instead.

Candidates are the same in both index strategies: a shared band key, or at
least half of the work's anchors among the document's shingles. The verdict
for a (document, work) pair depends on the pair only, so the broadcast index
and the distributed join produce identical evidence.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from clearcrawl import reasons
from clearcrawl.core import lsh
from clearcrawl.core.minhash import (
    Fingerprint,
    MinHashParams,
    estimated_jaccard,
    fingerprint,
    normalized_text_sha256,
    overlap,
)
from clearcrawl.records import Evidence

# A registered work must be at least this long (words) to be matched as content;
# a work contained in a page counts only from this many shingles on.
MIN_WORK_WORDS = 20
MIN_CONTAINMENT_SHINGLES = 50


@dataclass(frozen=True)
class WorkInfo:
    entry_id: str
    kind: str              # "optout" | "piracy"
    title: str
    rights_holder: str
    exact: str             # sha256 of the normalised text


@dataclass(frozen=True)
class DocPrint:
    """A document's fingerprint as content matching sees it, with its text for the
    exact-text hash, computed only for a document whose 5-grams equal a work's."""

    doc_id: str
    fingerprint: Fingerprint
    text: str = ""
    anchor_keys: np.ndarray | None = None  # if computed already (lsh.anchors_of_runs)

    @cached_property
    def exact(self) -> str:
        return normalized_text_sha256(self.text) if self.text else ""

    @cached_property
    def anchors(self) -> np.ndarray:
        """All anchor keys of the document (a work quoted in it has all of its own)."""
        if self.anchor_keys is not None:
            return self.anchor_keys
        return lsh.anchors(self.fingerprint.shingles, cap=None)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"))
                            .tobytes()).decode()


def _unb64(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")) \
        .astype(dtype)


def work_record(work: dict, params: MinHashParams) -> dict:
    """The snapshot form of one registry work: metadata and fingerprint, no text."""
    fp = fingerprint(work["text"], params)
    return {"entry_id": work["entry_id"], "kind": work["kind"], "title": work["title"],
            "rights_holder": work["rights_holder"],
            "exact": normalized_text_sha256(work["text"]),
            "shingle_count": int(fp.shingle_set.size),
            "signature": _b64(fp.signature), "shingles": _b64(fp.shingle_set)}


class WorkSet:
    """Fingerprints of all registered works, by position (the work index)."""

    def __init__(self, params: MinHashParams, infos: list[WorkInfo], signatures: np.ndarray,
                 shingle_sets: list[np.ndarray] | None):
        self.params = params
        self.infos = infos
        self.signatures = np.asarray(signatures, np.uint32).reshape(len(infos), params.num_perm)
        self.shingle_sets = shingle_sets

    def __len__(self) -> int:
        return len(self.infos)

    @classmethod
    def from_records(cls, params: MinHashParams, records: list[dict]) -> WorkSet:
        records = sorted(records, key=lambda r: r["entry_id"])
        infos = [WorkInfo(r["entry_id"], r["kind"], r["title"], r["rights_holder"], r["exact"])
                 for r in records]
        signatures = np.array([_unb64(r["signature"], np.uint32) for r in records],
                              np.uint32).reshape(len(records), params.num_perm)
        shingle_sets = [_unb64(r["shingles"], np.uint64) for r in records]
        return cls(params, infos, signatures, shingle_sets)

    @classmethod
    def concat(cls, params: MinHashParams, parts) -> WorkSet:
        """One WorkSet of parts given in entry_id order (a snapshot's works files), each
        part dropped once appended: the records' JSON of one part at a time."""
        infos: list[WorkInfo] = []
        signatures: list[np.ndarray] = []
        shingle_sets: list[np.ndarray] = []
        for part in parts:
            infos.extend(part.infos)
            signatures.append(part.signatures)
            shingle_sets.extend(part.shingle_sets or [])
        return cls(params, infos, np.concatenate(signatures) if signatures else
                   np.zeros((0, params.num_perm), np.uint32), shingle_sets)

    def band_keys(self, bands: int, rows: int) -> np.ndarray:
        return lsh.band_keys(self.signatures, bands, rows)

    def anchors(self, index: int) -> np.ndarray:
        if self.shingle_sets is None:
            return np.zeros(0, np.uint64)
        return lsh.anchors(self.shingle_sets[index])


def verify(doc: DocPrint, works: WorkSet, index: int, threshold: float) -> Evidence | None:
    """The evidence that `doc` is a copy of work `index`, or None."""
    info = works.infos[index]
    where = f"work {info.title!r} of {info.rights_holder or 'unnamed rights holder'}"
    if info.kind == "piracy":
        where += " (piracy)"
    fp = doc.fingerprint
    if fp.empty:
        return None
    estimate = estimated_jaccard(fp.signature, works.signatures[index])
    if works.shingle_sets is None:
        if estimate < threshold:
            return None
        return Evidence(reasons.WORK_NEAR_DUPLICATE, info.entry_id,
                        f"{where}: estimated jaccard {estimate:.3f}", round(estimate, 4))
    work_set = works.shingle_sets[index]
    shared = overlap(fp.shingle_set, work_set)
    union = fp.shingle_set.size + work_set.size - shared
    jaccard = shared / union if union else 0.0
    # Containment only for works long enough to be recognisable inside another text.
    containment = shared / work_set.size if work_set.size >= MIN_CONTAINMENT_SHINGLES else 0.0
    # The same text has the same 5-grams: only then is the exact hash worth computing.
    if jaccard == 1.0 and doc.exact == info.exact:
        return Evidence(reasons.WORK_EXACT, info.entry_id, f"{where}: same normalised text",
                        1.0)
    if max(jaccard, containment) < threshold:
        return None
    measure = "jaccard" if jaccard >= threshold else "containment"
    return Evidence(reasons.WORK_NEAR_DUPLICATE, info.entry_id,
                    f"{where}: jaccard {jaccard:.3f}, containment {containment:.3f}, "
                    f"estimate {estimate:.3f}; matched on {measure}",
                    round(max(jaccard, containment), 4))


class WorkMatcher:
    """The broadcast strategy: every work's band keys and anchors in memory.

    Memory: 12 bytes per (work, band) and per anchor, plus the signatures
    (4 bytes x permutations per work) and the kept shingle sets.
    """

    def __init__(self, works: WorkSet, threshold: float):
        self.works = works
        self.threshold = threshold
        self.bands, self.rows = lsh.choose_bands(works.params.num_perm, threshold)
        n = len(works)
        keys = works.band_keys(self.bands, self.rows).ravel()
        self.band_index = lsh.KeyIndex(keys, np.arange(keys.size, dtype=np.int64) // self.bands)
        del keys
        per_work = [works.anchors(i) for i in range(n)] if works.shingle_sets else []
        self.anchor_counts = np.array([a.size for a in per_work], np.int64)
        self.anchor_index = lsh.KeyIndex(
            np.concatenate(per_work) if per_work else np.zeros(0, np.uint64),
            np.repeat(np.arange(len(per_work)), self.anchor_counts))

    @property
    def nbytes(self) -> int:
        return (self.band_index.nbytes + self.anchor_index.nbytes + self.anchor_counts.nbytes
                + self.works.signatures.nbytes)

    def candidate_pairs(self, prints: list[DocPrint]) -> set[tuple[int, int]]:
        """{(position in `prints`, work index)}: a shared band key, at least half of the
        work's anchors. Vectorised over the whole batch. (An exact copy shares every
        band key, so exact copies need no separate lookup.)"""
        rows = [i for i, p in enumerate(prints) if not p.fingerprint.empty]
        if not rows:
            return set()
        signatures = np.stack([prints[i].fingerprint.signature for i in rows])
        anchors = [prints[i].anchors for i in rows] if self.anchor_index.keys.size else None
        return {(rows[r], owner) for r, owner in self.candidates_by_keys(signatures, anchors)}

    def candidates_by_keys(self, signatures: np.ndarray,
                           anchors: list[np.ndarray] | None) -> set[tuple[int, int]]:
        """{(row, work index)} for uint32[n, num_perm] signatures and, per row, its anchor
        keys (None: no containment search). refilter calls this with stored keys."""
        pairs: set[tuple[int, int]] = set()
        if signatures.shape[0]:
            keys = lsh.band_keys(signatures, self.bands, self.rows)
            at, owners = self.band_index.lookup(keys.ravel())
            pairs.update(zip((at // self.bands).tolist(), owners.tolist()))
        if self.anchor_index.keys.size and anchors:
            keys = np.concatenate(anchors)
            at, owners = self.anchor_index.lookup(keys)
            doc_rows = np.repeat(np.arange(len(anchors)), [a.size for a in anchors])[at]
            codes, hits = np.unique(doc_rows.astype(np.int64) * len(self.works) + owners,
                                    return_counts=True)
            for code, count in zip(codes.tolist(), hits.tolist()):
                row, owner = divmod(code, len(self.works))
                if count >= lsh.anchors_needed(int(self.anchor_counts[owner])):
                    pairs.add((row, owner))
        return pairs

    def match_many(self, prints: list[DocPrint]) -> list[list[Evidence]]:
        """Verified evidence for each document of a batch, in work-index order."""
        found: list[list[Evidence]] = [[] for _ in prints]
        for row, owner in sorted(self.candidate_pairs(prints)):
            evidence = verify(prints[row], self.works, owner, self.threshold)
            if evidence is not None:
                found[row].append(evidence)
        return found

    def match(self, doc: DocPrint) -> list[Evidence]:
        return self.match_many([doc])[0]
