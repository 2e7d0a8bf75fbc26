"""A run over WARC and JSONL inputs records, per input, which carriers its documents
could show, and the EU summary counts the documents that could not carry each signal."""

from __future__ import annotations

import json

from clearcrawl.audit import auditing, eu_summary
from clearcrawl.beam.pipeline import run
from tests.conftest import BUNDLED_REGISTRY


def test_unchecked_signals_are_counted_not_invisible(synthetic_crawl, tmp_path):
    jsonl = tmp_path / "extra.jsonl"
    jsonl.write_text("".join(json.dumps({"url": f"https://plain{i}.example/p", "text":
                                         f"a plain text record number {i}"}) + "\n"
                             for i in range(7)))
    out = tmp_path / "out"
    manifest = run(["--input", str(synthetic_crawl / "*.warc.gz"), "--input", str(jsonl),
                    "--registry", str(BUNDLED_REGISTRY), "--output", str(out)]).manifest
    carriers = {i["uri"].rsplit("/", 1)[-1]: i["carriers"] for i in manifest["inputs"]}
    assert carriers["extra.jsonl"] == []
    assert all(c == ["http_headers", "html_meta"] for name, c in carriers.items()
               if name.endswith(".warc.gz"))

    opened = auditing.open_run(str(out), lambda path: open(path, "rb"))
    rows = opened.ledger_rows()
    summary = eu_summary.summarize(opened.manifest, rows, opened.snapshot())
    unchecked = {m["kind"]: m["documents_not_checkable"] for m in summary["optout_measures"]}
    read_ok = sum(r["decision"] != "error" for r in rows)
    # No capture WARCs: no document could be checked against crawl-time robots.txt.
    assert unchecked["robots_crawl_time"] == read_ok
    # Only the JSONL records lack headers and HTML.
    assert unchecked["noai"] == unchecked["tdmrep"] == unchecked["content_usage"] == 7
    assert unchecked["domain_optout"] == 0
    assert "could not carry it" in eu_summary.to_markdown(summary)
