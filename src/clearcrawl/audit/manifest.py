"""The manifest: written last, it is what makes an output folder complete.

It states the run's identity (inputs, registry, policy, options), the counts,
every output file with its rows and sha256, and the ledger root hash. Functions
take an `opener(uri) -> binary file` so they work on local and gs:// folders.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections import Counter
from collections.abc import Callable, Iterable

import pyarrow.parquet as pq

from clearcrawl import __version__, reasons
from clearcrawl.audit.hashing import file_sha256, merkle_root, row_leaf
from clearcrawl.io.parquet import iter_rows
from clearcrawl.records import OUTPUT_SCHEMAS

MANIFEST = "manifest.json"
# signatures/: each document's MinHash signature, so `refilter` can match new works
# and propagate new removals without re-reading the crawl.
OUTPUT_FOLDERS = tuple(OUTPUT_SCHEMAS)
# The registry snapshot the run used, kept with its output: audits and refilter read it.
REGISTRY_SNAPSHOT = "registry/snapshot.json.gz"


def run_id_for(inputs: list[dict], registry_id: str, policy_id: str, options: dict) -> str:
    """Derived from what determines the output, never from the clock."""
    canonical = json.dumps({"inputs": inputs, "registry_id": registry_id,
                            "policy_id": policy_id, "options": options},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"clearcrawl": __version__, "python": platform.python_version()}
    for name in ("apache-beam", "pyarrow", "resiliparse", "tldextract", "datasketch"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def describe_file(root: str, rel_path: str, opener: Callable) -> dict:
    with opener(f"{root}/{rel_path}") as fh:
        digest = file_sha256(fh)
    with opener(f"{root}/{rel_path}") as fh:
        rows = pq.ParquetFile(fh).metadata.num_rows
    return {"path": rel_path, "rows": rows, "sha256": digest}


def read_ledger_rows(root: str, rel_paths: list[str], opener: Callable) -> list[dict]:
    rows: list[dict] = []
    for rel in rel_paths:
        with opener(f"{root}/{rel}") as fh:
            rows.extend(pq.read_table(fh).to_pylist())
    return rows


class LedgerTally:
    """Counts of ledger rows and, if `hash_rows`, their Merkle leaves by doc_id, added a
    batch at a time: a run's ledger is summarised without holding its rows."""

    def __init__(self, hash_rows: bool = True):
        self._hash_rows = hash_rows
        self.decisions: Counter = Counter()
        self.by_kind: Counter = Counter()
        self.keyed: list[tuple[str, bytes]] = []

    def add(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.decisions[row["decision"]] += 1
            if row["decision"] == reasons.REMOVE:
                self.by_kind.update({r["kind"] for r in row["reasons"]})
            if self._hash_rows:
                self.keyed.append((row["doc_id"], row_leaf(row)))

    def counts(self) -> dict:
        d = self.decisions
        return {
            "read": sum(d.values()),
            "kept": d.get(reasons.KEEP, 0),
            "removed": d.get(reasons.REMOVE, 0),
            "error": d.get(reasons.ERROR, 0),
            "removed_by_kind": {k: self.by_kind[k] for k in reasons.ALL_KINDS
                                if self.by_kind.get(k)},
        }

    def root(self) -> str:
        self.keyed.sort()
        return merkle_root(leaf for _, leaf in self.keyed)

    def distinct(self) -> int:
        return len({doc_id for doc_id, _ in self.keyed})


def ledger_counts(rows: list[dict]) -> dict:
    tally = LedgerTally(hash_rows=False)
    tally.add(rows)
    return tally.counts()


def summarize_ledger(root: str, rel_paths: list[str], opener: Callable
                     ) -> tuple[dict, str, int]:
    """(counts, ledger root hash, distinct doc_ids) recomputed from the ledger files,
    one record batch at a time."""
    tally = LedgerTally()
    for rel in rel_paths:
        with opener(f"{root}/{rel}") as fh:
            for rows in iter_rows(fh, 8192):
                tally.add(rows)
    return tally.counts(), tally.root(), tally.distinct()
