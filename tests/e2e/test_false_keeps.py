"""End to end: the false-keep page table (tests/false_keeps_cases.py) as one crawl.

Every page is a WARC response record; the crawl-time robots.txt of its origin goes to a
`robotstxt/`-style WARC, today's robots.txt, tdmrep.json and ai.txt and the URL rules to
a copy of the bundled registry. The run must give every page its row's decision, with
evidence of the expected kinds, each naming where the signal was found.
"""

from __future__ import annotations

import json
import shutil
from urllib.parse import urlsplit

import pyarrow.parquet as pq

from clearcrawl.beam.pipeline import run
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record
from tests.conftest import BUNDLED_REGISTRY
from tests.false_keeps_cases import PAGES, Page, page_record

URL_RULES = {pattern: f"fk-{number:04d}" for number, pattern in enumerate(
    dict.fromkeys(rule for page in PAGES for rule in page.url_rules))}


def _write_crawl(folder):
    crawl = folder / "CC-MAIN-2026-10-pages.warc.gz"
    crawl.write_bytes(b"".join(page_record(page) for page in PAGES))
    robots = folder / "robotstxt.warc.gz"
    with open(robots, "wb") as fh:
        for page in PAGES:
            if page.crawl_robots:
                status, body = page.crawl_robots
                parts = urlsplit(page.url)
                fh.write(gzip_member(warc_record(
                    "response", http_response(body.encode(), {"Content-Type": "text/plain"},
                                              status),
                    target_uri=f"{parts.scheme}://{parts.netloc}/robots.txt")))
    return crawl, robots


def _registry(folder):
    root = folder / "registry"
    shutil.copytree(BUNDLED_REGISTRY, root)
    for page in PAGES:
        if page.current_robots is not None:
            (root / "robots" / f"{page.host}.txt").write_text(page.current_robots)
        if page.tdmrep is not None:
            (root / "tdmrep" / f"{page.host}.json").write_text(page.tdmrep)
        if page.aitxt is not None:
            (root / "aitxt" / f"{page.host}.txt").write_text(page.aitxt)
    rows = [f"{entry},optout,{pattern},Rights Holder,2026-11-01,test,false-keep case"
            for pattern, entry in URL_RULES.items()]
    (root / "domains" / "false-keeps.csv").write_text(
        "entry_id,kind,pattern,rights_holder,added,source,note\n" + "\n".join(rows) + "\n")
    return root


def _expected_entry(page: Page, kind: str, robots_uri: str) -> str:
    """Where each kind of evidence must say it was found (a prefix of entry_id)."""
    if kind == "url_optout":
        rules = {p.host: p.url_rules for p in PAGES if p.url_rules}
        return URL_RULES[rules[page.host][0]]
    if kind == "robots_crawl_time" or (kind == "content_usage" and page.crawl_robots):
        return robots_uri + "@"
    if kind == "robots_current" or (kind == "content_usage" and page.current_robots):
        return f"robots/{page.host}.txt"
    if kind == "tdmrep" and page.tdmrep is not None:
        return f"tdmrep/{page.host}.json"
    if kind == "ai_txt":
        return f"aitxt/{page.host}.txt"
    return "http-header" if page.headers else "html-meta"


def test_every_false_keep_case_is_decided_end_to_end(tmp_path):
    crawl, robots = _write_crawl(tmp_path)
    out = tmp_path / "out"
    result = run(["--input", str(crawl), "--robots", str(robots),
                  "--registry", str(_registry(tmp_path)), "--output", str(out)])
    ledger = {r["url"]: r for f in sorted((out / "ledger").glob("*.parquet"))
              for r in pq.read_table(f).to_pylist()}
    assert len(ledger) == len(PAGES)
    wrong = {}
    for page in PAGES:
        row = ledger[page.url]
        kinds = tuple(dict.fromkeys(r["kind"] for r in row["reasons"]))
        entries = [(r["kind"], r["entry_id"]) for r in row["reasons"]]
        expected = [(kind, _expected_entry(page, kind, str(robots))) for kind in page.kinds]
        if (row["decision"], kinds) != (page.decision, page.kinds) or len(entries) != len(
                expected) or not all(
                entry.startswith(prefix) for (_, entry), (_, prefix) in zip(entries, expected)
        ) or not all(r["detail"] for r in row["reasons"]):
            wrong[page.url] = (page.spec, row["decision"], row["reasons"])
    assert wrong == {}, json.dumps(wrong, indent=1, default=str)
    removed = sum(page.decision == "remove" for page in PAGES)
    assert result.manifest["counts"]["removed"] == removed
    data = {r["url"] for f in (out / "data").glob("*.parquet")
            for r in pq.read_table(f).to_pylist()}
    assert data == {page.url for page in PAGES if page.decision == "keep"}
    details = {url: [r["detail"] for r in ledger[url]["reasons"]] for url in ledger}
    assert details["https://tdm-decimal.example/a"] == [
        "tdmrep.json rule 0 location / tdm-reservation=1"]
    assert details["https://xrt-two-lines.example/"] == ["header X-Robots-Tag: noai"]
    assert details["https://cu-tab.example/x/a"][0].endswith("Content-Usage: /x/\ttrain-ai=n")
    assert "Disallow: *.html for" in details["https://ai-types-4.example/STORY.HTML"][0]
    assert "for FacebookBot" in details["https://agent-facebookbot.example/a"][0]
