"""Staged outputs and their receipts: what commit trusts instead of reading every row."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearcrawl.audit.hashing import (
    BucketedRoot,
    bucket_of,
    ledger_leaves,
    plain_rows,
    row_leaf,
    top_root,
)
from clearcrawl.audit.manifest import LedgerTally, ledger_counts, receipt_tally
from clearcrawl.beam import outputs
from clearcrawl.core.crossmatch import RemovedSource
from clearcrawl.core.rows import apply_propagation, split_staged
from clearcrawl.records import ERRORS_SCHEMA, LEDGER_SCHEMA, STAGED_SCHEMA


def _ledger_rows(count: int, offset: int = 0) -> list[dict]:
    times = [dt.datetime(2026, 1, 31, 20, 18, 34, 123456, tzinfo=dt.UTC), None,
             dt.datetime(2024, 2, 29, 0, 0, 0, tzinfo=dt.UTC)]
    return [{"doc_id": f"{i + offset:032x}", "url": f"https://a.example/{i}?q=é",
             "registered_domain": "a.example", "decision": "remove" if i % 3 else "keep",
             "reasons": [{"kind": "domain_optout", "entry_id": "e1", "detail": "d",
                          "score": None}] if i % 3 else [],
             "text_sha256": "0" * 64, "text_bytes": i, "source_uri": "s.warc.gz",
             "source_offset": i * 100, "fetch_time": times[i % 3], "license": None,
             "registry_id": "r", "policy_id": "p"} for i in range(count)]


def test_receipt_states_what_was_written(tmp_path):
    staging = str(tmp_path / ".staging")
    files = outputs.OutputSet(staging, "unit.parquet")
    ledger = pa.Table.from_pylist(_ledger_rows(10), schema=LEDGER_SCHEMA)
    files.write("ledger", ledger.slice(0, 6))
    files.write("ledger", ledger.slice(6))
    files.write("errors", ERRORS_SCHEMA.empty_table())
    leaves = files.drain_leaves()
    assert files.drain_leaves() == []  # handed on once
    returned = files.close()

    name, receipt_ = "unit.parquet", returned
    assert receipt_["name"] == name
    described = receipt_["files"]
    for folder, receipt in described.items():
        path = tmp_path / ".staging" / folder / name
        assert receipt["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert receipt["rows"] == pq.ParquetFile(path).metadata.num_rows
    assert described["ledger"]["rows"] == 10 and described["data"]["rows"] == 0
    # The leaves are those of the rows as they read back from the file, by bucket.
    back = pq.read_table(tmp_path / ".staging" / "ledger" / name).to_pylist()
    assert sorted(p for _, pairs in leaves for p in pairs) == sorted(
        (r["doc_id"], row_leaf(r)) for r in back)
    assert all(bucket_of(doc_id) == b for b, pairs in leaves for doc_id, _ in pairs)
    counts = receipt_tally(receipt_).counts()
    assert counts["removed"] == 6 and counts["removed_by_kind"] == {"domain_optout": 6}


def test_leaf_rows_format_times_like_python_at_any_year():
    rows = _ledger_rows(3)
    rows[1]["fetch_time"] = dt.datetime(999, 12, 31, 23, 59, 59, 7, tzinfo=dt.UTC)
    for chosen in (rows, rows[:1], [rows[1]], [dict(rows[0], fetch_time=None)]):
        table = pa.Table.from_pylist(chosen, schema=LEDGER_SCHEMA)
        assert [row_leaf(r) for r in plain_rows(table)] == \
            [row_leaf(r) for r in table.to_pylist()]


def test_commit_promotes_receipted_files_only(tmp_path):
    staging = str(tmp_path / ".staging")
    receipts = {}
    for index, count in enumerate((0, 4, 0)):
        files = outputs.OutputSet(staging, f"u{index}.parquet")
        files.write("ledger", pa.Table.from_pylist(_ledger_rows(count, index * 100),
                                                   schema=LEDGER_SCHEMA))
        receipts[f"u{index}.parquet"] = files.close()
    assert outputs.unreceipted_files(str(tmp_path), receipts) == []
    stray = tmp_path / ".staging" / "ledger" / "stray.parquet"
    stray.write_bytes(b"PAR1")
    assert outputs.unreceipted_files(str(tmp_path), receipts) == [str(stray)]
    stray.unlink()

    ledger = outputs.promote_staged(str(tmp_path), "ledger", receipts)
    assert [f["path"] for f in ledger] == ["ledger/part-00000-of-00001.parquet"]
    assert ledger[0]["rows"] == 4
    data = outputs.promote_staged(str(tmp_path), "data", receipts)
    assert [(f["path"], f["rows"]) for f in data] == [("data/part-00000-of-00001.parquet", 0)]
    assert sorted(p.name for p in (tmp_path / "ledger").iterdir()) == [
        "part-00000-of-00001.parquet"]
    assert not list((tmp_path / ".staging" / "data").iterdir())  # empty extras deleted


def test_ledger_leaves_and_root_keep_their_definition():
    """sha256(0x00 + canonical JSON of the row) leaves (the values of every earlier
    version), bucketed root as README defines it: golden values, and the auditor's
    script (docs/recompute_ledger_root.py, no clearcrawl code) gives the same root."""
    rows = _ledger_rows(40)
    table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
    leaves = BucketedRoot()
    tally = LedgerTally(leaves)
    tally.add_table(table)
    assert [row_leaf(r).hex()[:16] for r in plain_rows(table.slice(0, 3))] == [
        "6db584e528242ac1", "5bf797a4bc6e962d", "b1021d3a2dfe05f0"]
    root = top_root({b: r for b, (r, _, _) in leaves.buckets().items()})
    assert root == GOLDEN_ROOT
    assert _auditor_script().ledger_root(table.to_pylist()) == GOLDEN_ROOT
    assert top_root({}) == _auditor_script().ledger_root([])


GOLDEN_ROOT = "26b7a697a9fe7d3174c037dcaf54a2bec589b0977b92fdf43530f03904edb1f4"


def _auditor_script():
    spec = importlib.util.spec_from_file_location(
        "recompute_ledger_root", Path(__file__).parents[2] / "docs" / "recompute_ledger_root.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_root_is_the_same_from_any_order_and_spilled_or_not():
    rows = _ledger_rows(300)
    table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
    roots = set()
    for order, spill_at in ((1, 1_000_000), (-1, 7), (1, 1)):
        leaves = BucketedRoot(max_in_memory=spill_at)
        tally = LedgerTally(leaves)
        for start in range(0, 300, 50)[::order]:
            tally.add_table(table.slice(start, 50))
        roots.add(top_root({b: r for b, (r, _, _) in leaves.buckets().items()}))
        leaves.close()
    assert len(roots) == 1
    one = BucketedRoot()
    one.add("x", b"1" * 32)
    one.add("x", b"2" * 32)
    assert [repeated for _, _, repeated in one.buckets().values()] == [1]


def test_staged_rows_read_back_batch_by_batch(tmp_path):
    uri = str(tmp_path / ".staging" / "staged" / "bundle.arrow")
    staged = outputs.ArrowFileOutput(uri, LEDGER_SCHEMA)
    first = pa.Table.from_pylist(_ledger_rows(5), schema=LEDGER_SCHEMA)
    second = pa.Table.from_pylist(_ledger_rows(3, offset=5), schema=LEDGER_SCHEMA)
    staged.write(first)
    staged.write(second)
    assert staged.close() and staged.rows == 8 and staged.sha256 is None
    assert list(outputs.iter_arrow_file(uri)) == [first, second]
    # A bundle that wrote nothing leaves no file behind.
    empty = outputs.ArrowFileOutput(str(tmp_path / "none.arrow"), LEDGER_SCHEMA)
    assert not empty.close() and not (tmp_path / "none.arrow").exists()


# Strings JSON writes plainly, with escapes, or with \u escapes (control characters).
_TEXTS = st.one_of(st.none(), st.text(max_size=12),
                   st.sampled_from(['a"b', "c\\d", "e\x01", "\x00", "tab\there", "é☃𝄞",
                                    "\u2028", "\x7f", ""]))
_TIMES = st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1, 1, 1),
                                           timezones=st.just(dt.UTC)))
_SCORES = st.one_of(st.none(), st.floats(), st.sampled_from([1.0, 0.1, 1e-7, 1e16, -0.0]))
_REASONS = st.lists(st.fixed_dictionaries(
    {"kind": _TEXTS, "entry_id": _TEXTS, "detail": _TEXTS, "score": _SCORES}), max_size=3)
_ROWS = st.lists(st.fixed_dictionaries({
    "doc_id": st.text(min_size=1, max_size=8), "url": _TEXTS, "registered_domain": _TEXTS,
    "decision": st.sampled_from(["keep", "remove", "error"]), "reasons": _REASONS,
    "text_sha256": _TEXTS, "text_bytes": st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)),
    "source_uri": _TEXTS, "source_offset": st.integers(0, 2**40), "fetch_time": _TIMES,
    "license": _TEXTS, "registry_id": _TEXTS, "policy_id": _TEXTS}), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_ROWS, cut=st.integers(0, 12), offset=st.integers(0, 3))
def test_ledger_leaves_and_counts_are_row_leaf_and_tally(rows, cut, offset):
    """Arrow's column-wise leaves and counts are exactly row_leaf's and LedgerTally's,
    whatever the strings, times and scores, over several chunks and slices."""
    table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
    table = pa.concat_tables([table.slice(0, cut), table.slice(cut)]).slice(
        min(offset, table.num_rows))
    assert ledger_leaves(table) == [row_leaf(r) for r in plain_rows(table)]
    tally = LedgerTally()
    tally.add(plain_rows(table))
    assert ledger_counts(table) == (dict(tally.decisions), dict(tally.by_kind))


def test_ledger_leaves_of_old_times_and_other_shapes_are_row_leaf():
    rows = _ledger_rows(6)
    rows[1]["fetch_time"] = dt.datetime(999, 12, 31, 23, 59, 59, 7, tzinfo=dt.UTC)
    table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
    assert ledger_leaves(table) == [row_leaf(r) for r in plain_rows(table)]
    other = table.append_column("flag", pa.array([True] * 6))
    assert ledger_leaves(other) == [row_leaf(r) for r in plain_rows(other)]
    assert ledger_leaves(table.slice(0, 0)) == []


def test_propagation_moves_the_changed_rows_last_and_splits_each_row_once():
    """Rows that propagation removes move after the others (as they always did), lose
    their text, and leave data/; the rest keep their order in every folder."""
    same, other = np.arange(64, dtype="<u4").tobytes(), np.arange(64, 128, dtype="<u4").tobytes()
    rows = [{"doc_id": f"d{i}", "url": f"https://a.example/{i}", "decision": decision,
             "reasons": [], "text": "t" if decision == "keep" else None,
             "signature": signature, "source_offset": i,
             "error_kind": "truncated_gzip" if decision == "error" else None}
            for i, (decision, signature) in enumerate([
                ("keep", same), ("keep", other), ("remove", same), ("keep", same),
                ("error", None), ("keep", None)])]
    staged = pa.Table.from_pylist(rows, schema=STAGED_SCHEMA)
    source = RemovedSource("d2", "https://a.example/2", "domain_optout", same)
    near = {"d0": [source], "d1": [source], "d3": [source], "d4": [source]}
    split = split_staged(apply_propagation(staged, near, 0.8))
    ledger = split["ledger"].to_pylist()
    assert [r["doc_id"] for r in ledger] == ["d1", "d2", "d4", "d5", "d0", "d3"]
    assert [r["decision"] for r in ledger[-2:]] == ["remove", "remove"]
    assert {r["kind"] for r in ledger[-1]["reasons"]} == {"near_duplicate_of_removed"}
    assert split["data"].column("doc_id").to_pylist() == ["d1", "d5"]
    assert split["signatures"].column("doc_id").to_pylist() == ["d1", "d2", "d0", "d3"]
    assert split["errors"].column("doc_id").to_pylist() == ["d4"]
    # Nothing found: the staged table itself, split.
    assert split_staged(apply_propagation(staged, {}, 0.8))["ledger"].equals(
        staged.select(LEDGER_SCHEMA.names))
