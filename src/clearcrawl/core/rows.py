"""Build the output rows (ledger, data, errors, signatures) from decisions. No Beam."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clearcrawl import reasons
from clearcrawl.audit.hashing import plain_rows, row_leaf
from clearcrawl.core.crossmatch import RemovedSource
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


_QUOTED = r'["\\]'  # the canonical JSON (audit.hashing) writes them after a backslash
_LEAF_TIME = "%Y-%m-%dT%H:%M:%SZ"  # audit.hashing's, with Arrow's microseconds


def ledger_leaves(table: pa.Table) -> list[bytes]:
    """The Merkle leaves (audit.hashing.row_leaf of plain_rows) of a ledger table's rows,
    in order: the canonical JSON of every row written by Arrow, column by column, and
    only hashed in Python. Rows holding a control character (which JSON escapes) and
    tables of other shapes are left to row_leaf."""
    leaves: list[bytes] = []
    for batch in table.to_batches():
        texts = _canonical_rows(batch)
        if texts is None:
            leaves += [row_leaf(row) for row in plain_rows(pa.Table.from_batches([batch]))]
            continue
        batch_leaves = [hashlib.sha256(text).digest()
                        for text in texts.cast(pa.binary()).to_pylist()]
        odd = _with_control(texts)
        if len(odd):
            redone = plain_rows(pa.Table.from_batches([batch]).take(odd))
            for index, row in zip(odd.tolist(), redone):
                batch_leaves[index] = row_leaf(row)
        leaves += batch_leaves
    return leaves


def _with_control(texts: pa.StringArray) -> np.ndarray:
    """Indices of the texts holding a byte below 0x20 past their first (never part of a
    multi-byte UTF-8 character), found in the data buffer at once."""
    if not len(texts):
        return np.zeros(0, np.int64)
    offsets = np.frombuffer(texts.buffers()[1], np.int32)[
        texts.offset:texts.offset + len(texts) + 1]
    data = np.frombuffer(texts.buffers()[2], np.uint8)
    at = np.flatnonzero(data[offsets[0]:offsets[-1]] < 0x20) + offsets[0]
    rows = np.searchsorted(offsets, at, side="right") - 1
    return np.unique(rows[at != offsets[rows]])


def _canonical_rows(batch: pa.RecordBatch) -> pa.Array | None:
    """NUL and the canonical JSON of each row, but for the escapes of control characters
    (to be looked for); None if a column is of a type not handled here."""
    parts = _object_parts(batch.schema, batch.columns)
    if parts is None:
        return None
    return _join(["\x00", *parts], len(batch))


def _object_parts(fields, columns) -> list | None:
    """Literal strings and arrays whose concatenation writes each row of `columns` as a
    JSON object (keys sorted)."""
    parts = []
    for field, column in sorted(zip(fields, columns), key=lambda item: item[0].name):
        value = _value_parts(column)
        if value is None:
            return None
        parts += [("{" if not parts else ",") + json.dumps(field.name) + ":", *value]
    return [*parts, "}"] if parts else None


def _value_parts(array: pa.Array) -> list | None:
    """Literal strings and arrays whose concatenation is each value's canonical JSON, as
    the leaf's encoder writes it (control characters aside); None for a type not
    handled here."""
    kind = array.type
    if array.null_count == len(array):
        return ["null"]
    if pa.types.is_timestamp(kind):
        return _time_parts(array)
    if pa.types.is_string(kind):
        if pc.any(pc.match_substring_regex(array, _QUOTED)).as_py():
            array = pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"),
                                         '"', '\\"')
        if not array.null_count:
            return ['"', array, '"']
        return [pc.coalesce(pc.binary_join_element_wise('"', array, '"', ""), "null")]
    if pa.types.is_integer(kind):
        return [pc.coalesce(pc.cast(array, pa.string()), "null")]
    if pa.types.is_floating(kind):
        # Python's float repr, NaN and Infinity: only Python writes them so.
        return [pa.array(["null" if v is None else repr(v) if math.isfinite(v) else json.dumps(v)
                          for v in array.to_pylist()], pa.string())]
    if pa.types.is_struct(kind) and not array.null_count:
        # flatten: each field's values as the struct's own slice holds them.
        parts = _object_parts(list(kind), array.flatten())
        return None if parts is None else [_join(parts, len(array))]
    if pa.types.is_list(kind) and not array.null_count:
        items = _value_parts(array.flatten())
        if items is None:
            return None
        offsets = pc.subtract(array.offsets, array.offsets[0])
        lists = pa.ListArray.from_arrays(offsets, _join(items, len(array.flatten())))
        return ["[", pc.binary_join(lists, ","), "]"]
    return None


def _time_parts(array: pa.Array) -> list | None:
    """plain_rows' text of UTC times: Arrow's cast writes it faster than strftime
    (years 1000 to 9999, where they agree), then as a string."""
    if array.type != pa.timestamp("us", tz="UTC"):
        return None
    years = pc.min_max(pc.year(array))
    if years["min"].as_py() < 1000:
        return None  # plain_rows leaves those to Python
    if years["max"].as_py() > 9999:
        return _value_parts(pc.strftime(array, _LEAF_TIME))
    # "YYYY-MM-DD HH:MM:SS.ffffff" of the same UTC time without its zone (which Arrow
    # would look up for every value): strftime's text but for the "T" and "Z".
    written = pc.cast(pc.cast(array, pa.timestamp("us")), pa.string())
    return _value_parts(pc.binary_join_element_wise(
        pc.replace_substring(written, " ", "T", max_replacements=1), "Z", ""))


def _join(parts: list, length: int) -> pa.Array:
    """The concatenation of `parts` (literal strings, adjacent ones merged, and arrays)."""
    merged: list = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if not any(isinstance(part, pa.Array) for part in merged):
        return pa.array(["".join(merged)] * length, pa.string())
    return pc.binary_join_element_wise(*merged, "")


def ledger_counts(table: pa.Table) -> tuple[dict[str, int], dict[str, int]] | None:
    """({decision: rows}, {removal kind: removed rows giving it}) of a ledger table, as
    audit.manifest.LedgerTally.add counts them (a kind once a row), by Arrow; None if a
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
