"""A refilter's changes/ and restorable/ rows, computed from staged rows where they are
written: each document against the previous decision and reasons it carries."""

from __future__ import annotations

import numpy as np

from clearcrawl import reasons
from clearcrawl.core.crossmatch import RemovedSource
from clearcrawl.core.policy import decide
from clearcrawl.core.rows import StagedRows, apply_propagation, refilter_changes, split_staged
from clearcrawl.records import (
    CHANGE_SCHEMAS,
    Decided,
    Document,
    Evidence,
    PreviousDecision,
    ReadFailure,
)

SIGNATURE = np.arange(128, dtype="<u4").tobytes()
OPTOUT = Evidence(reasons.DOMAIN_OPTOUT, "ex-0001", "h1.example")
PIRACY = Evidence(reasons.PIRACY_DOMAIN, "ex-0002", "h3.example")
OLD_STORE = Evidence(reasons.ROBOTS_CURRENT, "robots-store:old", "GPTBot disallowed")


def _decided(n: int, evidence: list[Evidence], before: str, before_reasons: list[Evidence]):
    doc = Document(f"d{n}", f"https://h{n}.example/p", f"h{n}.example", f"h{n}.example",
                   None, (), None, "text/html", f"text {n}")
    return Decided(doc, tuple(evidence), None, SIGNATURE, shingle_count=10,
                   previous=PreviousDecision(before, [e.as_row() for e in before_reasons]))


def _staged(records) -> StagedRows:
    rows = StagedRows("registry", "policy")
    for record in records:
        if isinstance(record, ReadFailure):
            rows.add_failure(record)
        else:
            decision, ordered = decide(list(record.evidence))
            rows.add(record, decision, ordered)
    return rows


def test_changes_are_the_documents_whose_final_decision_or_reasons_differ():
    staged = _staged([
        _decided(1, [OPTOUT], reasons.KEEP, []),                     # newly removed
        _decided(2, [], reasons.KEEP, []),                           # unchanged
        _decided(3, [OPTOUT, PIRACY], reasons.REMOVE, [OPTOUT]),     # one more reason
        _decided(4, [], reasons.KEEP, []),                           # a copy of d1: removed
        _decided(5, [OLD_STORE], reasons.REMOVE, [OLD_STORE]),       # restorable
        ReadFailure("d6", "crawl.warc.gz", 0, "truncated_record", "cut", "https://h6.example/"),
    ]).take()
    near = {"d4": [RemovedSource("d1", "https://h1.example/p", reasons.DOMAIN_OPTOUT,
                                 SIGNATURE)]}
    final = apply_propagation(staged, near, 0.8)
    parts = refilter_changes(final, "robots-store:new")
    assert {f: t.schema for f, t in parts.items()} == CHANGE_SCHEMAS
    changes = {r["doc_id"]: r for r in parts["changes"].to_pylist()}
    assert changes == {
        "d1": {"doc_id": "d1", "url": "https://h1.example/p", "before": "keep",
               "after": "remove", "reasons": ["domain_optout"]},
        "d3": {"doc_id": "d3", "url": "https://h3.example/p", "before": "remove",
               "after": "remove", "reasons": ["domain_optout", "piracy_domain"]},
        "d4": {"doc_id": "d4", "url": "https://h4.example/p", "before": "keep",
               "after": "remove", "reasons": ["near_duplicate_of_removed"]},
    }
    # The propagated decision is the final ledger's, as split_staged writes it.
    ledger = {r["doc_id"]: r for r in split_staged(final)["ledger"].to_pylist()}
    assert ledger["d4"]["decision"] == reasons.REMOVE
    assert parts["restorable"].to_pylist() == [
        {"doc_id": "d5", "url": "https://h5.example/p", "removed_by": ["robots-store:old"]}]
    # The same store as the refilter's own: nothing to restore.
    assert refilter_changes(final, "robots-store:old")["restorable"].num_rows == 0


def test_a_run_has_no_previous_decisions_so_no_changes():
    doc = Document("d1", "https://h1.example/p", "h1.example", "h1.example", None, (), None,
                   "text/html", "text")
    staged = _staged([Decided(doc, (OPTOUT,), None, SIGNATURE)]).take()
    assert staged.column("previous_decision").null_count == staged.num_rows
    assert all(t.num_rows == 0 for t in refilter_changes(staged, "").values())
