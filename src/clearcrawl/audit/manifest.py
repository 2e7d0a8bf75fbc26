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

import pyarrow as pa

from clearcrawl import __version__, reasons
from clearcrawl.audit.hashing import merkle_root, plain_rows, row_leaf
from clearcrawl.io.parquet import read_table
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


def read_ledger_rows(root: str, rel_paths: list[str], opener: Callable) -> list[dict]:
    rows: list[dict] = []
    for rel in rel_paths:
        with opener(f"{root}/{rel}") as fh:
            rows.extend(read_table(fh).to_pylist())
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

    def add_table(self, table: pa.Table) -> None:
        """A ledger table's rows (the Merkle leaves of the rows as they will read back)."""
        self.add(plain_rows(table))

    def merge(self, other: LedgerTally) -> None:
        self.decisions.update(other.decisions)
        self.by_kind.update(other.by_kind)
        self.keyed.extend(other.keyed)

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


# Receipts: what one unit of output work wrote, so that commit need not read it back.
# Its writer writes it last: each output file's {rows, sha256} by folder (hashed as
# written) and its ledger rows' tally, the Merkle leaves as columns. Commit sums
# receipts, reading O(files) rather than every row; `audit verify` still recomputes
# everything from the files themselves.
_RECEIPT_KEY = b"clearcrawl.receipt"


def receipt_table(files: dict[str, dict], tally: LedgerTally) -> pa.Table:
    keyed = tally.keyed
    table = pa.table({"doc_id": pa.array([doc_id for doc_id, _ in keyed], pa.string()),
                      "leaf": pa.array([leaf for _, leaf in keyed], pa.binary(32))})
    meta = {"files": files, "decisions": dict(tally.decisions),
            "removed_by_kind": dict(tally.by_kind)}
    return table.replace_schema_metadata({_RECEIPT_KEY: json.dumps(meta, sort_keys=True)})


def read_receipt(table: pa.Table) -> tuple[dict[str, dict], LedgerTally]:
    """(files by folder, ledger tally) of a receipt table."""
    meta = json.loads(table.schema.metadata[_RECEIPT_KEY])
    tally = LedgerTally()
    tally.decisions.update(meta["decisions"])
    tally.by_kind.update(meta["removed_by_kind"])
    tally.keyed.extend(zip(table.column("doc_id").to_pylist(),
                           table.column("leaf").to_pylist()))
    return meta["files"], tally
