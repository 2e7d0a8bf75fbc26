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
import pyarrow.compute as pc

from clearcrawl import __version__, reasons
from clearcrawl.audit.hashing import BucketedRoot, plain_rows, row_leaf
from clearcrawl.io.parquet import read_table
from clearcrawl.records import CHANGE_SCHEMAS, OUTPUT_SCHEMAS

MANIFEST = "manifest.json"
# signatures/: each document's MinHash signature, so `refilter` can match new works
# and propagate new removals without re-reading the crawl.
OUTPUT_FOLDERS = tuple(OUTPUT_SCHEMAS)
# A refilter's output also has these (records.CHANGE_SCHEMAS), after the folders above;
# each set's receipt then counts its changes from kept to removed.
CHANGE_FOLDERS = tuple(CHANGE_SCHEMAS)
EVERY_FOLDER = (*OUTPUT_FOLDERS, *CHANGE_FOLDERS)  # what an output folder may hold
KEPT_TO_REMOVED = "kept_to_removed"
# The registry snapshot the run used, kept with its output: audits and refilter read it.
REGISTRY_SNAPSHOT = "registry/snapshot.json.gz"


def run_id_for(inputs: list[dict], registry_id: str, policy_id: str, options: dict) -> str:
    """Derived from what determines the output, never from the clock."""
    # An input is its uri and size; what is recorded beside them (carriers) follows.
    inputs = [{"uri": i["uri"], "bytes": i["bytes"]} for i in inputs]
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
    """Counts of ledger rows by decision and removal kind, added a batch at a time and
    merged across files; with `root`, the rows' leaves too (hashing.BucketedRoot), so
    a ledger's root is recomputed in bounded memory."""

    def __init__(self, root: BucketedRoot | None = None):
        self.decisions: Counter = Counter()
        self.by_kind: Counter = Counter()
        self.root = root

    def add(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.decisions[row["decision"]] += 1
            if row["decision"] == reasons.REMOVE:
                self.by_kind.update({r["kind"] for r in row["reasons"]})
            if self.root is not None:
                self.root.add(row["doc_id"], row_leaf(row))

    def add_table(self, table: pa.Table) -> None:
        """A ledger table's rows (the Merkle leaves of the rows as they will read back)."""
        self.add(plain_rows(table))

    def merge(self, other: LedgerTally) -> None:
        self.decisions.update(other.decisions)
        self.by_kind.update(other.by_kind)

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


# Receipts: what one unit of output work wrote, so that commit need not read it back.
# Its writer writes it last: each output file's {rows, sha256} by folder (hashed as
# written) and its ledger rows' counts. Commit sums receipts, O(files); the rows'
# leaves reach the root by another path (bucket by bucket); `audit verify` still
# recomputes everything from the files themselves.


def receipt(name: str, files: dict[str, dict], tally: LedgerTally) -> dict:
    return {"name": name, "files": files, "decisions": dict(tally.decisions),
            "removed_by_kind": dict(tally.by_kind)}


def receipt_tally(described: dict) -> LedgerTally:
    tally = LedgerTally()
    tally.decisions.update(described["decisions"])
    tally.by_kind.update(described["removed_by_kind"])
    return tally


def ledger_counts(table: pa.Table) -> tuple[dict[str, int], dict[str, int]] | None:
    """({decision: rows}, {removal kind: removed rows giving it}) of a ledger table, as
    LedgerTally.add counts them (a kind once a row), by Arrow; None if a
    decision or a removed row's reasons are null (LedgerTally decides those)."""
    decision = table.column("decision")
    if decision.null_count:
        return None
    decisions = {item["values"].as_py(): item["counts"].as_py()
                 for item in pc.value_counts(decision)}
    removed = table.column("reasons").filter(pc.equal(decision, reasons.REMOVE))
    if removed.null_count:
        return None
    pairs = pa.table({"row": pc.list_parent_indices(removed),
                      "kind": pc.struct_field(pc.list_flatten(removed), "kind")})
    kinds = pairs.group_by(["row", "kind"]).aggregate([]).column("kind")
    by_kind = {item["values"].as_py(): item["counts"].as_py()
               for item in pc.value_counts(kinds)}
    return decisions, by_kind
