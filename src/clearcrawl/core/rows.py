"""Build the output rows (ledger, data, errors) from decisions. Pure functions."""

from __future__ import annotations

from clearcrawl import reasons
from clearcrawl.core.urls import registered_domain, split_url
from clearcrawl.records import Document, Evidence, ReadFailure


def ledger_row(doc: Document, decision: str, evidence: list[Evidence], license_: str | None,
               registry_id: str, policy_id: str) -> dict:
    return {
        "doc_id": doc.doc_id,
        "url": doc.url,
        "registered_domain": doc.registered_domain,
        "decision": decision,
        "reasons": [e.as_row() for e in evidence],
        "text_sha256": doc.text_sha256,
        "text_bytes": doc.text_bytes,
        "source_uri": doc.source_uri,
        "source_offset": doc.source_offset,
        "fetch_time": doc.fetch_time,
        "license": license_,
        "registry_id": registry_id,
        "policy_id": policy_id,
    }


def data_row(doc: Document, license_: str | None, registry_id: str) -> dict:
    return {
        "doc_id": doc.doc_id,
        "url": doc.url,
        "text": doc.text,
        "registered_domain": doc.registered_domain,
        "fetch_time": doc.fetch_time,
        "text_sha256": doc.text_sha256,
        "source_uri": doc.source_uri,
        "source_offset": doc.source_offset,
        "crawl": doc.crawl,
        "license": license_,
        "registry_id": registry_id,
    }


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
