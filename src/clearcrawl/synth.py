"""A seeded generator of Common-Crawl-like WARC shards with ground truth.

Shards look like Common Crawl's: per-record gzip members, and for every capture
a request, a response (HTTP headers + HTML) and a metadata record, after one
warcinfo record. Pages are spread over ordinary hosts and the example opt-out
and piracy entries of the bundled registry, including the cases a host matcher
must get right (subdomains, upper case and trailing dots, look-alike hosts, URL
prefixes). `ground_truth.jsonl` says what a correct run must decide for each URL.

Usage: clearcrawl synth --output DIR [--pages N] [--files F] [--seed S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import uuid
from pathlib import Path

from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record

_SYLLABLES = ("ka ri to na me so lu vi de pa ra mo ten sel ar ul in or ex con pro lin "
              "dar bel cor fin gal hor jen kel mar nor pel quin ros sul tor ven wil").split()

# (host template, expected decision, reason kind, weight). {w} is a random word.
HOST_PLAN = [
    ("www.{w}-news.example", "keep", None, 30),
    ("{w}.blog.example", "keep", None, 20),
    ("shop.{w}.example", "keep", None, 10),
    ("daily-herald.example", "remove", "domain_optout", 5),
    ("sport.daily-herald.example", "remove", "domain_optout", 3),
    ("WWW.Daily-Herald.example.", "remove", "domain_optout", 1),
    ("notdaily-herald.example", "keep", None, 2),
    ("photo-archive.example", "remove", "domain_optout", 3),
    ("free-ebooks-mirror.example", "remove", "piracy_domain", 3),
    ("dl.torrent-index.example", "remove", "piracy_domain", 2),
]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))


def _paragraph(rng: random.Random, words: int) -> str:
    out = []
    while len(out) < words:
        sentence = [_word(rng) for _ in range(rng.randint(6, 18))]
        sentence[0] = sentence[0].capitalize()
        out.extend(sentence)
        out[-1] += "."
    return " ".join(out)


def page_html(rng: random.Random, title: str, target_bytes: int) -> str:
    parts = [f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>"
             "</head><body><nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav>"
             f"<article><h1>{title}</h1>"]
    size = sum(len(p) for p in parts)
    while size < target_bytes:
        paragraph = f"<p>{_paragraph(rng, rng.randint(40, 120))}</p>"
        parts.append(paragraph)
        size += len(paragraph)
    parts.append("</article><footer>&copy; 2026</footer></body></html>")
    return "".join(parts)


def _choose_host(rng: random.Random) -> tuple[str, str, str | None]:
    weights = [w for *_, w in HOST_PLAN]
    template, decision, kind, _ = rng.choices(HOST_PLAN, weights)[0]
    return template.format(w=_word(rng)), decision, kind


def _url_for(rng: random.Random, host: str) -> tuple[str, str, str | None]:
    """(url, decision, kind); city-magazine pages split by the /premium/ prefix rule."""
    if rng.random() < 0.06:
        section = rng.choice(["premium", "free", "premium-offers"])
        url = f"https://city-magazine.example/{section}/{_word(rng)}-{rng.randint(1, 999)}"
        if section == "premium":
            return url, "remove", "url_optout"
        return url, "keep", None
    return f"https://{host}/{_word(rng)}/{_word(rng)}-{rng.randint(1, 99999)}.html", "", None


def generate(output: str | Path, pages: int = 600, files: int = 2, seed: int = 7,
             mean_html_bytes: int = 9000, crawl: str = "CC-MAIN-2026-05") -> dict:
    """Write `files` WARC shards holding `pages` captures; returns a summary."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    truth = []
    paths = []
    start = dt.datetime(2026, 1, 26, tzinfo=dt.UTC)
    per_file = [pages // files + (1 if i < pages % files else 0) for i in range(files)]
    total_bytes = 0
    for index, count in enumerate(per_file):
        name = f"{crawl}-synthetic-{seed:04d}-{index:05d}.warc.gz"
        path = out / name
        with open(path, "wb") as fh:
            info = (f"software: clearcrawl-synth\r\nisPartOf: {crawl}\r\n"
                    f"description: synthetic sample crawl, seed {seed}\r\n").encode()
            fh.write(gzip_member(warc_record("warcinfo", info, date=start,
                                             record_id=str(uuid.UUID(int=rng.getrandbits(128))),
                                             extra={"WARC-Filename": name})))
            for _ in range(count):
                host, decision, kind = _choose_host(rng)
                url, url_decision, url_kind = _url_for(rng, host)
                if url_decision:
                    decision, kind = url_decision, url_kind
                when = start + dt.timedelta(seconds=rng.randint(0, 6 * 86400))
                size = max(600, int(rng.lognormvariate(0, 0.6) * mean_html_bytes * 0.85))
                body = page_html(rng, _paragraph(rng, 5)[:60], size).encode()
                rid = lambda: str(uuid.UUID(int=rng.getrandbits(128)))  # noqa: E731
                request = (f"GET /{url.split('/', 3)[-1]} HTTP/1.1\r\nHost: {host}\r\n"
                           "User-Agent: CCBot/2.0\r\n\r\n").encode()
                fh.write(gzip_member(warc_record("request", request, target_uri=url, date=when,
                                                 record_id=rid())))
                fh.write(gzip_member(warc_record(
                    "response", http_response(body, {"Server": "synthetic"}), target_uri=url,
                    date=when, record_id=rid(),
                    extra={"WARC-Identified-Payload-Type": "text/html"})))
                fh.write(gzip_member(warc_record("metadata", b"fetchTimeMs: 120\r\n",
                                                 target_uri=url, date=when, record_id=rid())))
                truth.append({"url": url, "decision": decision, "kind": kind, "file": name})
        total_bytes += path.stat().st_size
        paths.append(str(path))
    with open(out / "ground_truth.jsonl", "w") as fh:
        for row in truth:
            fh.write(json.dumps(row) + "\n")
    return {"files": paths, "pages": pages, "bytes": total_bytes,
            "expected_removed": sum(r["decision"] == "remove" for r in truth)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clearcrawl synth", description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mean-html-bytes", type=int, default=9000)
    args = parser.parse_args(argv)
    summary = generate(args.output, args.pages, args.files, args.seed, args.mean_html_bytes)
    print(f"wrote {len(summary['files'])} WARC files, {summary['pages']} pages, "
          f"{summary['bytes'] / 1e6:.1f} MB to {args.output}")
    return 0
