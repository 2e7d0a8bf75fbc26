"""Build the output rows (ledger, data, errors, signatures) from decisions. No Beam."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clearcrawl import reasons
from clearcrawl.core.crossmatch import RemovedSource
from clearcrawl.core.policy import NearRemoved, decide
from clearcrawl.core.store_decisions import older_stores
from clearcrawl.core.urls import registered_domain, split_url
from clearcrawl.records import (
    CHANGE_SCHEMAS,
    OUTPUT_SCHEMAS,
    STAGED_SCHEMA,
    Decided,
    Evidence,
    ReadFailure,
)


def failure_rows(failure: ReadFailure, registry_id: str, policy_id: str) -> tuple[dict, dict]:
    """(ledger row, dead-letter row) for a record that could not be read."""
    host = split_url(failure.url).host if failure.url else ""
    ledger = {
        "doc_id": failure.doc_id,
        "url": failure.url,
        "registered_domain": registered_domain(host) if host else None,
        "decision": reasons.ERROR,
        "reasons": [],
        "text_sha256": None,
        "text_bytes": 0,
        "source_uri": failure.source_uri,
        "source_offset": failure.source_offset,
        "fetch_time": None,
        "license": None,
        "registry_id": registry_id,
        "policy_id": policy_id,
    }
    dead_letter = {
        "doc_id": failure.doc_id,
        "source_uri": failure.source_uri,
        "source_offset": failure.source_offset,
        "error_kind": failure.error_kind,
        "message": failure.message,
    }
    return ledger, dead_letter


class StagedRows:
    """Decided documents and read failures as columns of STAGED_SCHEMA: the ledger row,
    the text of a kept document (null otherwise), the fingerprint, the dead letter. Appending to lists and
    building one Arrow array per column costs far less than a dict per row."""

    def __init__(self, registry_id: str, policy_id: str):
        self._ids = (registry_id, policy_id)
        self._columns: dict[str, list] = {name: [] for name in STAGED_SCHEMA.names}

    def __len__(self) -> int:
        return len(self._columns["doc_id"])

    def add(self, decided: Decided, decision: str, evidence: list[Evidence]) -> None:
        doc, c = decided.doc, self._columns
        c["doc_id"].append(doc.doc_id)
        c["url"].append(doc.url)
        c["registered_domain"].append(doc.registered_domain)
        c["decision"].append(decision)
        c["reasons"].append([e.as_row() for e in evidence])
        c["text_sha256"].append(doc.text_sha256)
        c["text_bytes"].append(doc.text_bytes)
        c["source_uri"].append(doc.source_uri)
        c["source_offset"].append(doc.source_offset)
        c["fetch_time"].append(doc.fetch_time)
        c["license"].append(decided.license)
        c["registry_id"].append(self._ids[0])
        c["policy_id"].append(self._ids[1])
        c["text"].append(doc.text if decision == reasons.KEEP else None)
        c["crawl"].append(doc.crawl)
        c["signature"].append(decided.signature or None)
        c["shingle_count"].append(decided.shingle_count)
        c["anchors"].append(decided.anchors or None)
        c["error_kind"].append(None)
        c["message"].append(None)
        previous = decided.previous
        c["previous_decision"].append(previous.decision if previous else None)
        c["previous_reasons"].append(previous.reasons if previous else None)

    def add_failure(self, failure: ReadFailure) -> None:
        ledger, dead_letter = failure_rows(failure, *self._ids)
        for name, values in self._columns.items():
            values.append(ledger.get(name, dead_letter.get(name)))

    def take(self) -> pa.Table:
        table = pa.Table.from_pydict(self._columns, schema=STAGED_SCHEMA)
        self._columns = {name: [] for name in STAGED_SCHEMA.names}
        return table


@dataclass(frozen=True)
class Redecided:
    """Staged rows after propagation: those of `rows` where `unchanged` is true (all if
    None), in order, then `changed` (rebuilt, if any)."""

    rows: pa.Table
    unchanged: pa.BooleanArray | None = None
    changed: pa.Table | None = None


def apply_propagation(table: pa.Table, near: Mapping[str, Sequence[RemovedSource]],
                      threshold: float) -> Redecided:
    """Staged rows decided again with what propagation found: a kept document that is a
    near-duplicate of a removed one is removed too (policy.decide decides).

    `near` maps a doc_id to the removed documents sharing a band key with it (never
    empty). Only the rows that change are rebuilt in Python (and moved after the
    others); the others are left in place, to be copied once, by split_staged.
    """
    if not near:
        return Redecided(table)
    found = pc.indices_nonzero(
        pc.is_in(table.column("doc_id"), value_set=pa.array(list(near), pa.string())))
    if not len(found):
        return Redecided(table)
    changed, unchanged = [], np.ones(table.num_rows, bool)
    for row, index in zip(table.take(found).to_pylist(), found.to_pylist()):
        if row["decision"] == reasons.ERROR:
            continue
        decision, ordered = decide([Evidence(**r) for r in row["reasons"]],
                                   NearRemoved(row["signature"] or b"", near[row["doc_id"]],
                                               threshold))
        if decision == row["decision"]:
            continue
        row.update(decision=decision, reasons=[e.as_row() for e in ordered],
                   text=row["text"] if decision == reasons.KEEP else None)
        changed.append(row)
        unchanged[index] = False
    if not changed:
        return Redecided(table)
    return Redecided(table, pa.array(unchanged),
                     pa.Table.from_pylist(changed, schema=STAGED_SCHEMA))


def split_staged(staged: pa.Table | Redecided) -> dict[str, pa.Table]:
    """Final ledger, data (kept documents), signatures and errors tables of staged rows."""
    if isinstance(staged, pa.Table):
        staged = Redecided(staged)
    parts = [_split(staged.rows, staged.unchanged)]
    if staged.changed is not None:
        parts.append(_split(staged.changed, None))
    return {folder: pa.concat_tables(tables) if len(tables) > 1 else tables[0]
            for folder, tables in ((folder, [p[folder] for p in parts if p[folder].num_rows]
                                    or [parts[0][folder]]) for folder in OUTPUT_SCHEMAS)}


def _split(table: pa.Table, rows) -> dict[str, pa.Table]:
    """Each output folder's table of `table`'s rows where `rows` is true (all if None)."""
    decision = table.column("decision")
    masks = {"data": pc.equal(decision, reasons.KEEP), "ledger": None,
             "errors": pc.equal(decision, reasons.ERROR),
             "signatures": pc.is_valid(table.column("signature"))}
    # Columns first, then rows: filtering copies, and only data/ needs the texts. Each
    # row is filtered once, rows and folder together.
    split = {}
    for folder, schema in OUTPUT_SCHEMAS.items():
        mask = masks[folder] if rows is None else (
            rows if masks[folder] is None else pc.and_(masks[folder], rows))
        columns = table.select(schema.names)
        # Every row (signatures, mostly): nothing to copy.
        every = mask is None or (not mask.null_count and pc.all(mask).as_py())
        split[folder] = columns if every else columns.filter(mask)
    return split


_CHANGE_COLUMNS = ["doc_id", "url", "decision", "reasons", "previous_decision",
                   "previous_reasons"]


def refilter_changes(staged: pa.Table | Redecided, store_label: str) -> dict[str, pa.Table]:
    """A refilter's changes and restorable tables (CHANGE_SCHEMAS) of staged rows, with
    their final decisions: each document whose decision or reasons differ from the
    previous output's (a record that could not be read has none, and stays an error),
    and each one still removed by an older robots store than `store_label`."""
    if isinstance(staged, pa.Table):
        staged = Redecided(staged)
    final = [staged.rows.select(_CHANGE_COLUMNS)]
    if staged.unchanged is not None:
        final[0] = final[0].filter(staged.unchanged)
    if staged.changed is not None:
        final.append(staged.changed.select(_CHANGE_COLUMNS))
    changes, restorable = [], []
    for table in final:
        for row in table.to_pylist():
            before = row["previous_decision"]
            if before is None:
                continue
            if before != row["decision"] or row["previous_reasons"] != row["reasons"]:
                changes.append({"doc_id": row["doc_id"], "url": row["url"], "before": before,
                                "after": row["decision"],
                                "reasons": sorted({r["kind"] for r in row["reasons"]})})
            older = older_stores(row["reasons"], store_label)
            if older:
                restorable.append({"doc_id": row["doc_id"], "url": row["url"],
                                   "removed_by": older})
    return {"changes": pa.Table.from_pylist(changes, schema=CHANGE_SCHEMAS["changes"]),
            "restorable": pa.Table.from_pylist(restorable,
                                               schema=CHANGE_SCHEMAS["restorable"])}


def kept_to_removed(changes: pa.Table) -> int:
    """How many rows of a changes table (CHANGE_SCHEMAS) went from kept to removed."""
    if not changes.num_rows:
        return 0
    return pc.sum(pc.and_(pc.equal(changes.column("before"), reasons.KEEP),
                          pc.equal(changes.column("after"), reasons.REMOVE))).as_py() or 0
