"""End to end: every opt-out signal in one crawl removes exactly the reserved pages."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq

from clearcrawl.beam.pipeline import run
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record
from tests.conftest import BUNDLED_REGISTRY

PAGE = "<html><head>{head}<title>t</title></head><body><p>Body of {url}</p></body></html>"

# (url, extra HTTP headers, extra <head> markup, expected reason kind or None to keep)
CASES = [
    ("https://crawlblock.example/a", {}, "", "robots_crawl_time"),
    ("https://down.example/a", {}, "", "robots_crawl_time"),          # robots.txt fetch 503
    ("https://gone.example/a", {}, "", None),                        # robots.txt 404
    ("https://googleonly.example/a", {}, "", None),                  # agent not in policy
    ("http://crawlblock.example/a", {}, "", None),                   # other scheme: no capture
    ("https://current-block.example/private/x", {}, "", "robots_current"),
    ("https://current-block.example/public/x", {}, "", None),
    ("https://tdm-site.example/books/1", {}, "", "tdmrep"),          # site file rule
    ("https://tdm-site.example/news/1", {}, "", None),
    ("https://h1.example/", {"tdm-reservation": "1"}, "", "tdmrep"),
    ("https://h0.example/", {"tdm-reservation": "0"}, "", None),
    ("https://hx.example/", {"tdm-reservation": "maybe"}, "", None),  # malformed = unset
    ("https://tdm-site.example/books/2", {"tdm-reservation": "0"}, "", None),  # header overrides
    ("https://m1.example/", {}, '<meta name="tdm-reservation" content="1">', "tdmrep"),
    ("https://noai1.example/", {"X-Robots-Tag": "noai"}, "", "noai"),
    ("https://noai2.example/", {}, '<meta name="robots" content="noimageai">', "noai"),
    ("https://noai3.example/", {"X-Robots-Tag": "googlebot: noai"}, "", None),
    ("https://noai4.example/", {"X-Robots-Tag": "noarchive"}, "", None),  # policy default off
    ("https://cu.example/", {"Content-Usage": "train-ai=n"}, "", "content_usage"),
    ("https://signal.example/p", {}, "", "content_usage"),           # Content-Signal in robots
    ("https://aitxt-site.example/gallery/x", {}, "", "ai_txt"),
    ("https://aitxt-site.example/about", {}, "", None),
    ("https://cc-licensed.example/",
     {}, '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">', None),
]

ROBOTS_CAPTURES = [
    ("https://crawlblock.example/robots.txt", 200, "User-agent: GPTBot\nDisallow: /\n"),
    ("https://down.example/robots.txt", 503, "oops"),
    ("https://gone.example/robots.txt", 404, "User-agent: *\nDisallow: /\n"),
    ("https://googleonly.example/robots.txt", 200, "User-agent: Googlebot\nDisallow: /\n"),
    ("https://signal.example/robots.txt", 200,
     "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n"),
]


def _write_crawl(folder):
    crawl = folder / "pages.warc.gz"
    with open(crawl, "wb") as fh:
        for url, headers, head, _ in CASES:
            body = PAGE.format(head=head, url=url).encode()
            fh.write(gzip_member(warc_record("response", http_response(body, headers),
                                             target_uri=url)))
    robots = folder / "robots.warc.gz"
    with open(robots, "wb") as fh:
        for url, status, text in ROBOTS_CAPTURES:
            fh.write(gzip_member(warc_record(
                "response", http_response(text.encode(), {"Content-Type": "text/plain"}, status),
                target_uri=url)))
    return crawl, robots


def _registry(folder):
    root = folder / "registry"
    shutil.copytree(BUNDLED_REGISTRY, root)
    (root / "robots" / "current-block.example.txt").write_text(
        "User-agent: CCBot\nDisallow: /private/\n")
    (root / "tdmrep" / "tdm-site.example.json").write_text(
        '[{"location": "/books/*", "tdm-reservation": 1,'
        ' "tdm-policy": "https://tdm-site.example/policy.json"},'
        ' {"location": "/*", "tdm-reservation": 0}]')
    (root / "aitxt" / "aitxt-site.example.txt").write_text("User-agent: *\nDisallow: /gallery/\n")
    return root


def test_each_signal_removes_exactly_the_reserved_pages(tmp_path):
    crawl, robots = _write_crawl(tmp_path)
    out = tmp_path / "out"
    result = run(["--input", str(crawl), "--robots", str(robots),
                  "--registry", str(_registry(tmp_path)), "--output", str(out)])
    ledger = {r["url"]: r for f in sorted((out / "ledger").glob("*.parquet"))
              for r in pq.read_table(f).to_pylist()}
    assert len(ledger) == len(CASES)
    for url, _headers, _head, kind in CASES:
        row = ledger[url]
        if kind is None:
            assert row["decision"] == "keep" and row["reasons"] == [], (url, row["reasons"])
        else:
            assert row["decision"] == "remove", url
            assert [r["kind"] for r in row["reasons"]] == [kind], (url, row["reasons"])
            assert all(r["entry_id"] and r["detail"] for r in row["reasons"])
        assert row["policy_id"] == result.manifest["policy_id"]
    details = {url: ledger[url]["reasons"][0] for url, *_, kind in CASES if kind}
    assert details["https://h1.example/"]["detail"] == "header tdm-reservation=1"
    assert details["https://tdm-site.example/books/1"]["entry_id"] == "tdmrep/tdm-site.example.json"
    assert "tdm-policy=https://tdm-site.example/policy.json" in (
        details["https://tdm-site.example/books/1"]["detail"])
    assert details["https://crawlblock.example/a"]["entry_id"].startswith(str(robots))
    assert "for GPTBot" in details["https://crawlblock.example/a"]["detail"]
    assert "503" in details["https://down.example/a"]["detail"]
    assert details["https://current-block.example/private/x"]["entry_id"] == (
        "robots/current-block.example.txt")
    assert "Content-Signal" in details["https://signal.example/p"]["detail"]
    licensed = ledger["https://cc-licensed.example/"]
    assert licensed["license"] == "https://creativecommons.org/licenses/by/4.0/"
    data = {r["url"]: r for f in (out / "data").glob("*.parquet")
            for r in pq.read_table(f).to_pylist()}
    assert data["https://cc-licensed.example/"]["license"] == licensed["license"]
    removed = sum(1 for *_, kind in CASES if kind)
    assert result.manifest["counts"]["removed"] == removed
    assert result.manifest["options"]["robots_inputs"][0]["uri"] == str(robots)
