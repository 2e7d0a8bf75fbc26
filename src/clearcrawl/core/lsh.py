"""Locality-sensitive hashing over MinHash signatures: band choice, band keys, an index.

Bands are chosen for recall at the threshold, not for datasketch's balance of
false positives and negatives: every candidate is verified before a removal, so
a missed pair costs a wrong decision while an extra candidate costs a
comparison. With 128 permutations and Jaccard 0.8 this gives 21 bands of 6
rows: P(candidate) = 0.998 at 0.8, 0.93 at 0.7, 0.28 at 0.5.

Band keys are 64-bit hashes of (band number, band values), so the keys of all
bands live in one sorted array (the broadcast index) or travel as plain join
keys (the distributed strategy) with the same meaning.
"""

from __future__ import annotations

import numba
import numpy as np

from clearcrawl.core.minhash import _mix, _mixed

_U64 = np.uint64
# Shingles whose hash has these low bits all zero are anchors (1 in 32), so a
# document and a work agree on which of their shared shingles to look up.
ANCHOR_MASK = _U64(31)
MAX_ANCHORS = 64
_ANCHOR_SALT = _U64(0xA5A5A5A5DEADBEEF)
_ROW_MULTIPLIERS = np.array([(0x9E3779B97F4A7C15 ^ (i * 0xD1B54A32D192ED03) | 1) & (2**64 - 1)
                             for i in range(64)], dtype=np.uint64)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - jaccard ** rows) ** bands


def choose_bands(num_perm: int, threshold: float, min_recall: float = 0.995) -> tuple[int, int]:
    """(bands, rows): the most rows per band (fewest false candidates) that still
    makes a pair at exactly `threshold` a candidate with `min_recall`."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= min_recall:
            return bands, rows
    return num_perm, 1


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64[n, bands] keys for uint32[n, num_perm] signatures (in row blocks, so a
    million signatures never need a gigabyte of temporaries)."""
    sigs = np.atleast_2d(signatures)
    out = np.empty((sigs.shape[0], bands), np.uint64)
    salts = np.arange(1, bands + 1, dtype=np.uint64) * _U64(0x2545F4914F6CDD1D)
    with np.errstate(over="ignore"):
        for start in range(0, sigs.shape[0], 16384):
            block = sigs[start:start + 16384, : bands * rows].astype(np.uint64)
            block = block.reshape(block.shape[0], bands, rows)
            block *= _ROW_MULTIPLIERS[:rows]
            keys = block.sum(axis=2, dtype=np.uint64)
            keys += salts
            out[start:start + keys.shape[0]] = _mix(keys)
    return out


def anchors(shingle_hashes: np.ndarray, cap: int | None = MAX_ANCHORS) -> np.ndarray:
    """Anchor keys of a text: its sampled shingles (1 in 32), unique, smallest first,
    at most `cap` of them (works) or all (documents, cap=None).

    A document that contains a whole work contains all of the work's anchors.
    """
    sampled = np.unique(shingle_hashes[(shingle_hashes & ANCHOR_MASK) == 0])
    if cap is not None:
        sampled = sampled[:cap]
    with np.errstate(over="ignore"):
        return _mix(sampled ^ _ANCHOR_SALT)


def anchors_many(shingle_sets: list[np.ndarray]) -> list[np.ndarray]:
    """`anchors(s, cap=None)` of each array, in one compiled pass over the whole batch."""
    if not shingle_sets:
        return []
    ends = np.cumsum([s.size for s in shingle_sets])
    return anchors_of_runs(np.concatenate(shingle_sets), ends)


def anchors_of_runs(shingles: np.ndarray, ends: np.ndarray) -> list[np.ndarray]:
    """`anchors(run, cap=None)` of each run of `shingles` (run i ends at ends[i]), as
    `minhash.fingerprint_batch` lays out a batch's shingles."""
    if len(ends) == 0:
        return []
    keys = np.empty(int(ends[-1]), np.uint64)
    bounds = _anchors_kernel(np.ascontiguousarray(shingles, np.uint64),
                             np.asarray(ends, np.int64), ANCHOR_MASK, _ANCHOR_SALT, keys).tolist()
    return [keys[start:end] for start, end in zip([0, *bounds[:-1]], bounds)]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _anchors_kernel(shingles, ends, mask, salt, keys):  # pragma: no cover - compiled
    """For each run of `shingles` (run t ends at ends[t]): its sampled shingles
    (value & mask == 0), sorted, unique, each mixed with `salt`, written to `keys` run
    after run; returns where each run's keys end."""
    bounds = np.empty(ends.size, np.int64)
    out = 0
    first = 0
    for t in range(ends.size):
        start = out
        for i in range(first, ends[t]):
            keys[out] = shingles[i]
            out += (shingles[i] & mask) == 0
        keys[start:out].sort()
        unique = start
        for i in range(start, out):
            if unique == start or keys[i] != keys[unique - 1]:
                keys[unique] = keys[i]
                unique += 1
        for i in range(start, unique):
            keys[i] = _mixed(keys[i] ^ salt)
        out = unique
        bounds[t] = out
        first = ends[t]
    return bounds


def anchors_needed(anchor_count: int) -> int:
    """Anchor hits that make a work a containment candidate: half of its anchors."""
    return max(1, (anchor_count + 1) // 2)


class KeyIndex:
    """Sorted uint64 keys with the owner of each, and a directory of offsets by the
    keys' top bits (about one key per bucket), so a lookup costs a few memory reads
    instead of a 25-step binary search: the index is in RAM, the keys are random."""

    def __init__(self, keys: np.ndarray, owners: np.ndarray):
        order = np.argsort(keys)
        self.keys = keys[order]
        self.owners = owners[order].astype(np.int32)
        del order
        self._bits = int(min(30, max(4, np.ceil(np.log2(max(self.keys.size, 1))))))
        top = self.keys >> _U64(64 - self._bits)
        dtype = np.int32 if self.keys.size < 2**31 else np.int64
        self._offsets = np.searchsorted(top, np.arange((1 << self._bits) + 1, dtype=np.uint64)
                                        ).astype(dtype)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.owners.nbytes + self._offsets.nbytes

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `keys`, owners) of every entry equal to a key, one per hit."""
        keys = np.asarray(keys, np.uint64)
        bucket = (keys >> _U64(64 - self._bits)).astype(np.intp)
        cursor, end = self._offsets[bucket].astype(np.intp), self._offsets[bucket + 1]
        active = np.flatnonzero(cursor < end)
        cursor, end = cursor[active], end[active]
        positions, owners = [], []
        while active.size:  # walk each bucket; buckets hold one or two keys on average
            equal = self.keys[cursor] == keys[active]
            if equal.any():
                positions.append(active[equal])
                owners.append(self.owners[cursor[equal]])
            cursor += 1
            more = cursor < end
            active, cursor, end = active[more], cursor[more], end[more]
        if not positions:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        return np.concatenate(positions), np.concatenate(owners)
