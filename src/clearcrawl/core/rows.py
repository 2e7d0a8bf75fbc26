"""Build the output rows (ledger, data, errors, signatures) from decisions. No Beam."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clearcrawl import reasons
from clearcrawl.core.policy import NearRemoved, decide
from clearcrawl.core.urls import registered_domain, split_url
from clearcrawl.records import (
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

    def add_failure(self, failure: ReadFailure) -> None:
        ledger, dead_letter = failure_rows(failure, *self._ids)
        for name, values in self._columns.items():
            values.append(ledger.get(name, dead_letter.get(name)))

    def take(self) -> pa.Table:
        table = pa.Table.from_pydict(self._columns, schema=STAGED_SCHEMA)
        self._columns = {name: [] for name in STAGED_SCHEMA.names}
        return table


def apply_propagation(table: pa.Table, sources_of, threshold: float) -> pa.Table:
    """Staged rows decided again with what propagation found: a kept document that is a
    near-duplicate of a removed one is removed too (policy.decide decides).

    `sources_of(doc_id)` gives the removed documents (RemovedSource) sharing a band
    key with it, or nothing. Only the rows that change are rebuilt in Python (and
    moved after the others).
    """
    found = []
    for index, doc_id in enumerate(table.column("doc_id").to_pylist()):
        sources = sources_of(doc_id)
        if sources:
            found.append((index, sources))
    if not found:
        return table
    rows = table.take([index for index, _ in found]).to_pylist()
    changed, unchanged = [], np.ones(table.num_rows, bool)
    for row, (index, sources) in zip(rows, found):
        if row["decision"] == reasons.ERROR:
            continue
        decision, ordered = decide([Evidence(**r) for r in row["reasons"]],
                                   NearRemoved(row["signature"] or b"", sources, threshold))
        if decision == row["decision"]:
            continue
        row.update(decision=decision, reasons=[e.as_row() for e in ordered],
                   text=row["text"] if decision == reasons.KEEP else None)
        changed.append(row)
        unchanged[index] = False
    if not changed:
        return table
    return pa.concat_tables([table.filter(pa.array(unchanged)),
                             pa.Table.from_pylist(changed, schema=STAGED_SCHEMA)])


def split_staged(table: pa.Table) -> dict[str, pa.Table]:
    """Final ledger, data (kept documents), signatures and errors tables of staged rows."""
    decision = table.column("decision")
    masks = {"data": pc.equal(decision, reasons.KEEP), "ledger": None,
             "errors": pc.equal(decision, reasons.ERROR),
             "signatures": pc.is_valid(table.column("signature"))}
    # Columns first, then rows: filtering copies, and only data/ needs the texts.
    return {folder: _filtered(table.select(schema.names), masks[folder])
            for folder, schema in OUTPUT_SCHEMAS.items()}


def _filtered(table: pa.Table, mask) -> pa.Table:
    return table if mask is None else table.filter(mask)
