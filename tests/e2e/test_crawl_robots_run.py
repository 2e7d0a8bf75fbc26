"""End to end: crawl-time robots.txt captures at several dates and behind redirects
(issues 16.3 and 17.2). Each page is judged by the capture of its origin in force
when it was fetched, redirects resolved through the other captures."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq

from clearcrawl.beam.pipeline import run
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record
from tests.conftest import BUNDLED_REGISTRY

BLOCK = "User-agent: GPTBot\nDisallow: /\n"
OPEN = "User-agent: *\nAllow: /\n"


def _day(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-{day}T12:00:00+00:00")


def _hops(start: str, n: int, last_body: str) -> list[tuple]:
    """robots.txt of `start` redirected n times across origins, then a 200."""
    urls = [f"https://{start}/robots.txt"] + [
        f"https://h{i}.{start}/robots.txt" for i in range(1, n + 1)]
    return ([(url, "03-01", 301, "", urls[i + 1]) for i, url in enumerate(urls[:-1])]
            + [(urls[-1], "03-01", 200, last_body, "")])


# (robots URL, capture day, status, body, Location)
CAPTURES = [
    ("https://dated.example/robots.txt", "03-01", 200, BLOCK, ""),
    ("https://dated.example/robots.txt", "03-20", 404, BLOCK, ""),
    ("https://dated.example/robots.txt", "03-31", 503, "", ""),
    ("https://same.example/robots.txt", "03-01", 301, "", "/robots-real.txt"),
    ("https://same.example/robots-real.txt", "03-01", 200, BLOCK, ""),
    ("https://cross.example/robots.txt", "03-01", 302, "", "https://www.cross.example/robots.txt"),
    ("https://www.cross.example/robots.txt", "03-01", 200, BLOCK, ""),
    ("https://cross-open.example/robots.txt", "03-01", 301, "", "https://cdn.example/r.txt"),
    ("https://cdn.example/r.txt", "03-01", 404, BLOCK, ""),
    *_hops("five.example", 5, OPEN),
    *_hops("six.example", 6, OPEN),
    ("https://lost.example/robots.txt", "03-01", 301, "", "https://nowhere.example/robots.txt"),
]

# (page URL, fetch day, expected kind or None to keep, substrings of the evidence detail)
PAGES = [
    ("https://dated.example/before", "02-25", "robots_crawl_time",
     ["captured 2026-03-01T12:00:00Z",
      "after the page's fetch 2026-02-25T12:00:00Z: no earlier capture", "Disallow: /"]),
    ("https://dated.example/early", "03-05", "robots_crawl_time",
     ["robots.txt captured 2026-03-01T12:00:00Z line 2 Disallow: / for GPTBot"]),
    ("https://dated.example/middle", "03-25", None, []),
    ("https://dated.example/late", "04-02", "robots_crawl_time",
     ["robots.txt fetch 503: complete disallow"]),
    ("https://same.example/a", "03-05", "robots_crawl_time",
     ["(redirected https://same.example/robots.txt -> https://same.example/robots-real.txt)"
      " line 2 Disallow: /"]),
    ("https://cross.example/a", "03-05", "robots_crawl_time",
     ["(redirected https://cross.example/robots.txt -> https://www.cross.example/robots.txt)"]),
    ("https://www.cross.example/a", "03-05", "robots_crawl_time",
     ["robots.txt captured 2026-03-01T12:00:00Z line 2"]),
    ("https://cross-open.example/a", "03-05", None, []),
    ("https://five.example/a", "03-05", None, []),
    ("https://six.example/a", "03-05", "robots_crawl_time",
     ["robots.txt fetch unreachable (unresolved redirect https://six.example/robots.txt -> "
      "https://h1.six.example/robots.txt", "h6.six.example/robots.txt: more than 5 redirects)",
      "complete disallow"]),
    ("https://lost.example/a", "03-05", "robots_crawl_time",
     ["(unresolved redirect https://lost.example/robots.txt -> "
      "https://nowhere.example/robots.txt: target not captured)"]),
    ("https://uncaptured.example/a", "03-05", None, []),
]


def _write(folder):
    crawl, robots = folder / "pages.warc.gz", folder / "robots.warc.gz"
    with open(crawl, "wb") as fh:
        for url, day, *_ in PAGES:
            body = f"<html><body><p>Page {url}</p></body></html>".encode()
            fh.write(gzip_member(warc_record("response", http_response(body), target_uri=url,
                                             date=_day(day))))
    offsets = {}
    with open(robots, "wb") as fh:
        for url, day, status, text, location in CAPTURES:
            headers = {"Content-Type": "text/plain", **({"Location": location} if location
                                                          else {})}
            offsets.setdefault(url, fh.tell())
            fh.write(gzip_member(warc_record(
                "response", http_response(text.encode(), headers, status), target_uri=url,
                date=_day(day))))
    return crawl, robots, offsets


def test_each_page_judged_by_the_capture_in_force_redirects_resolved(tmp_path):
    crawl, robots, offsets = _write(tmp_path)
    out = tmp_path / "out"
    result = run(["--input", str(crawl), "--robots", str(robots),
                  "--registry", str(BUNDLED_REGISTRY), "--output", str(out)])
    ledger = {r["url"]: r for f in sorted((out / "ledger").glob("*.parquet"))
              for r in pq.read_table(f).to_pylist()}
    assert len(ledger) == len(PAGES)
    for url, _, kind, parts in PAGES:
        row = ledger[url]
        if kind is None:
            assert row["decision"] == "keep" and row["reasons"] == [], (url, row["reasons"])
            continue
        assert row["decision"] == "remove", url
        assert [r["kind"] for r in row["reasons"]] == [kind], (url, row["reasons"])
        detail = row["reasons"][0]["detail"]
        for part in parts:
            assert part in detail, (url, detail)
    # The evidence names the record whose rules applied: for a redirect, its target's.
    entry = {url: ledger[url]["reasons"][0]["entry_id"] for url, _, kind, _ in PAGES if kind}
    assert entry["https://same.example/a"] == (
        f"{robots}@{offsets['https://same.example/robots-real.txt']}")
    assert entry["https://cross.example/a"] == entry["https://www.cross.example/a"]
    assert entry["https://lost.example/a"] == (
        f"{robots}@{offsets['https://lost.example/robots.txt']}")
    assert result.manifest["counts"]["removed"] == sum(1 for *_, k, _ in PAGES if k)
