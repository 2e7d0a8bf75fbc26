"""A seeded generator of Common-Crawl-like WARC shards with ground truth.

Shards look like Common Crawl's: per-record gzip members, and for every capture
a request, a response (HTTP headers + HTML) and a metadata record, after one
warcinfo record. Pages are spread over ordinary hosts and the example opt-out
and piracy entries of the bundled registry, including the cases a host matcher
must get right (subdomains, upper case and trailing dots, look-alike hosts, URL
prefixes). Some pages on ordinary hosts carry a lightly edited copy of a registered
work (given with `works`), some mirror a page of an opted-out or piracy host, and
some carry an opt-out signal in their HTTP headers or meta tags (noai, TDMRep,
Content-Usage) or a look-alike that is not one. `robots/` holds the crawl's
robots.txt captures (pass it with `--robots`): one host refuses AI agents.
`ground_truth.jsonl` says what a correct run, given those captures, must decide.

Usage: clearcrawl synth --output DIR [--pages N] [--files F] [--seed S]
       [--jobs J] [--per-file-seeds]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime as dt
import functools
import itertools
import json
import random
import uuid
from pathlib import Path

import numpy as np

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
    # robots.txt captured at crawl time (the robots/ WARC): AI agents refused, or only
    # an agent outside the policy refused.
    ("ai-blocked.example", "remove", "robots_crawl_time", 2),
    ("googlebot-only.example", "keep", None, 1),
]

ROBOTS_CAPTURES = {
    "ai-blocked.example": "User-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n",
    "googlebot-only.example": "User-agent: Googlebot\nDisallow: /\n",
}

# Opt-out signals carried by a page itself, on ordinary hosts:
# (HTTP headers, <head> markup, decision, reason kind, weight).
SIGNAL_PLAN = [
    ({"X-Robots-Tag": "noai"}, "", "remove", "noai", 2),
    ({}, '<meta name="robots" content="noai">', "remove", "noai", 2),
    ({"TDM-Reservation": "1"}, "", "remove", "tdmrep", 2),
    ({}, '<meta name="tdm-reservation" content="1">', "remove", "tdmrep", 1),
    ({"Content-Usage": "train-ai=n"}, "", "remove", "content_usage", 1),
    ({"TDM-Reservation": "0"}, "", "keep", None, 1),          # explicitly not reserved
    ({"X-Robots-Tag": "noarchive"}, "", "keep", None, 1),     # not an opt-out by default
]
SIGNAL_RATE = 0.05  # of pages on ordinary hosts


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))


@functools.cache
def _word_table() -> tuple[list[str], list[float]]:
    """Every word of 1 to 3 syllables, with the cumulative weights that give `_word`'s
    distribution (length uniform, then syllables uniform): a sentence is then one
    `choices` call rather than a few random draws per word."""
    words, weights = [], []
    for length in (1, 2, 3):
        found = ["".join(parts) for parts in itertools.product(_SYLLABLES, repeat=length)]
        words += found
        weights += [1.0 / (3 * len(found))] * len(found)
    return words, list(itertools.accumulate(weights))


def _paragraph(rng: random.Random, words: int) -> str:
    table, cumulative = _word_table()
    out = []
    while len(out) < words:
        sentence = rng.choices(table, cum_weights=cumulative, k=rng.randint(6, 18))
        sentence[0] = sentence[0].capitalize()
        out.extend(sentence)
        out[-1] += "."
    return " ".join(out)


@functools.cache
def _word_bounds() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_word_table` for `_word_indices`: the words (an object array), each class's (1, 2, 3 syllables)
    first index and first cumulative weight, and the cumulative weights with -inf before
    and +inf after (choices bisects all but the last weight: the last word takes the rest)."""
    words, cumulative = _word_table()
    counts = [len(_SYLLABLES) ** length for length in (1, 2, 3)]
    firsts = np.array([0, counts[0], counts[0] + counts[1]])
    starts = np.array([0.0, cumulative[firsts[1] - 1], cumulative[firsts[2] - 1]])
    edges = np.concatenate([[-np.inf], cumulative[:-1], [np.inf]])
    return np.array(words, dtype=object), firsts, starts, edges


def _word_indices(raw: np.ndarray) -> np.ndarray:
    """For each offset i of the draws `raw`, the index of the word that `choices` picks
    with the random() made of draws i and i + 1 (random()'s float arithmetic, then
    bisect_right over the cumulative weights). Weights are equal within each class,
    so the index is computed and then checked against the weights themselves."""
    words, firsts, starts, edges = _word_bounds()
    unit = ((raw[:-1] >> 5).astype(np.float64) * 67108864.0
            + (raw[1:] >> 6).astype(np.float64)) * (1.0 / 9007199254740992.0)
    x = unit * (_word_table()[1][-1] + 0.0)
    group = np.searchsorted(starts, x, side="right") - 1
    counts = np.diff(np.append(firsts, len(words)))
    index = firsts[group] + ((x - starts[group]) * 3 * counts[group]).astype(np.int64)
    index = np.clip(index, 0, len(words) - 1)
    for _ in range(2):  # float sums put a boundary a word either side of the estimate
        index += edges[index + 1] <= x
        index -= edges[index] > x
    wrong = (edges[index] > x) | (edges[index + 1] <= x)
    if wrong.any():
        index[wrong] = np.searchsorted(edges[1:-1], x[wrong], side="right")
    return index


class _Exhausted(Exception):
    """A page needed more draws than were taken ahead for it."""


def _filler(rng: random.Random, room: int) -> list[str]:
    """Paragraphs `<p>...</p>` until they fill `room` characters: what
    `while room > 0: p = f"<p>{_paragraph(rng, rng.randint(40, 120))}</p>"; room -= len(p)`
    gives, leaving `rng` in the same state (tests compare the two). Its draws are taken
    ahead in one block (`getrandbits` of many words returns consecutive 32-bit draws,
    lowest first), so a page's thousand words are one vectorised lookup instead of a
    `choices` bisection each; randint is random.Random's (getrandbits of the width's bit
    length until below it) and random() is two draws."""
    if room <= 0:
        return []
    state = rng.getstate()
    ahead = room // 3 + 400   # about two draws per 6.5 characters
    while True:
        count = ahead
        raw = np.frombuffer(rng.getrandbits(32 * count).to_bytes(4 * count, "little"),
                            dtype="<u4").astype(np.uint64)
        try:
            found, used = _fill(raw.tolist(), _word_bounds()[0][_word_indices(raw)].tolist(),
                                room)
            break
        except _Exhausted:
            rng.setstate(state)
            ahead *= 2
    rng.setstate(state)
    rng.getrandbits(32 * used)
    return found


def _fill(values: list[int], names: list[str], room: int) -> tuple[list[str], int]:
    """`_filler`'s paragraphs from the draws `values` (and the word each pair of draws
    picks, `names`); with the number of draws used."""
    pos, found, end = 0, [], len(names)
    try:
        while room > 0:
            while True:   # randint(40, 120): 7 bits until below 81
                value = values[pos] >> 25
                pos += 1
                if value < 81:
                    break
            words, out = 40 + value, []
            while len(out) < words:
                while True:   # randint(6, 18): 4 bits until below 13
                    value = values[pos] >> 28
                    pos += 1
                    if value < 13:
                        break
                count = 6 + value
                if pos + 2 * count > end:
                    raise _Exhausted
                sentence = names[pos:pos + 2 * count:2]
                pos += 2 * count
                sentence[0] = sentence[0].capitalize()
                out.extend(sentence)
                out[-1] += "."
            found.append(f"<p>{' '.join(out)}</p>")
            room -= len(found[-1])
    except IndexError:
        raise _Exhausted from None
    return found, pos


def page_html(rng: random.Random, title: str, target_bytes: int,
              paragraphs: list[str] | None = None, head: str = "") -> str:
    parts = [f"<!doctype html><html><head><meta charset=\"utf-8\">{head}<title>{title}</title>"
             "</head><body><nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav>"
             f"<article><h1>{title}</h1>"]
    if paragraphs is None:
        parts += _filler(rng, target_bytes - sum(len(p) for p in parts))
    parts.extend(f"<p>{p}</p>" for p in paragraphs or ())
    parts.append("</article><footer>&copy; 2026</footer></body></html>")
    return "".join(parts)


def _work_copy(rng: random.Random, text: str) -> list[str]:
    """A work as a re-host would publish it: about 1 % of words changed, in paragraphs."""
    words = [w if rng.random() > 0.01 else _word(rng) for w in text.split()]
    return [" ".join(words[i:i + 60]) for i in range(0, len(words), 60)]


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


WORK_COPY_RATE = 0.03   # of pages on ordinary hosts
MIRROR_RATE = 0.03      # of pages on ordinary hosts, once a removed page exists


def _write_robots_captures(folder: Path, crawl: str, seed: int, when: dt.datetime) -> str:
    """The crawl's robots.txt captures, as Common Crawl's robotstxt/ WARCs hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{crawl}-robotstxt-{seed:04d}-00000.warc.gz"
    with open(path, "wb") as fh:
        for host, text in ROBOTS_CAPTURES.items():
            fh.write(gzip_member(warc_record(
                "response", http_response(text.encode(), {"Content-Type": "text/plain"}),
                target_uri=f"https://{host}/robots.txt", date=when)))
    return str(path)


def _compress(records: list[bytes]) -> bytes:
    return b"".join(gzip_member(record) for record in records)


class _Shard:
    """One WARC file being written, a gzip member per record. With a pool, records are
    compressed there in batches (compression is about a third of a page's cost, and
    the draws that make the records must stay in one process, in order) and written
    in the order they were made, so the file is the same as without one."""

    BATCH = 256   # records a task
    AHEAD = 4     # tasks in flight a worker: bounds memory

    def __init__(self, path: Path, pool: concurrent.futures.Executor | None, workers: int):
        self.fh = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.pool, self.workers = pool, workers
        self.batch: list[bytes] = []
        self.pending: collections.deque = collections.deque()

    def write(self, record: bytes) -> None:
        if self.pool is None:
            self.fh.write(gzip_member(record))
            return
        self.batch.append(record)
        if len(self.batch) >= self.BATCH:
            self._submit()

    def _submit(self) -> None:
        self.pending.append(self.pool.submit(_compress, self.batch))
        self.batch = []
        while len(self.pending) > self.AHEAD * self.workers:
            self.fh.write(self.pending.popleft().result())

    def close(self) -> None:
        if self.batch:
            self._submit()
        while self.pending:
            self.fh.write(self.pending.popleft().result())
        self.fh.close()


def generate(output: str | Path, pages: int = 600, files: int = 2, seed: int = 7,
             mean_html_bytes: int = 9000, crawl: str = "CC-MAIN-2026-05",
             works: list[dict] | None = None, jobs: int = 1,
             per_file_seeds: bool = False) -> dict:
    """Write `files` WARC shards holding `pages` captures; returns a summary.

    One generator draws every file in turn, so a file's content depends on the ones
    before it. `jobs` > 1 then compresses records in that many processes (the files are
    the same). With `per_file_seeds`, each file has its own generator, seeded by `seed`
    and the file's number (and its own mirrored pages), and `jobs` files are written at
    once: another crawl than without, the same for any `jobs`."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2026, 1, 26, tzinfo=dt.UTC)
    per_file = [pages // files + (1 if i < pages % files else 0) for i in range(files)]
    plans = [(out / f"{crawl}-synthetic-{seed:04d}-{index:05d}.warc.gz", count)
             for index, count in enumerate(per_file)]
    common = {"start": start, "crawl": crawl, "seed": seed,
              "mean_html_bytes": mean_html_bytes, "works": works}
    if per_file_seeds:
        tasks = [(path, count, f"clearcrawl-synth:{seed}:{index}", common)
                 for index, (path, count) in enumerate(plans)]
        if jobs > 1:
            with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
                truths = list(pool.map(_seeded_shard, tasks))
        else:
            truths = [_seeded_shard(task) for task in tasks]
    else:
        rng, removed_pages = random.Random(seed), []
        with contextlib.ExitStack() as stack:
            pool = (stack.enter_context(concurrent.futures.ProcessPoolExecutor(jobs))
                    if jobs > 1 else None)
            truths = [_write_shard(_Shard(path, pool, jobs), path.name, count, rng,
                                   removed_pages, **common) for path, count in plans]
    truth = [row for rows in truths for row in rows]
    robots = _write_robots_captures(out / "robots", crawl, seed, start)
    with open(out / "ground_truth.jsonl", "w") as fh:
        for row in truth:
            fh.write(json.dumps(row) + "\n")
    return {"files": [str(path) for path, _ in plans], "robots": robots, "pages": pages,
            "bytes": sum(path.stat().st_size for path, _ in plans),
            "expected_removed": sum(r["decision"] == "remove" for r in truth)}


def _seeded_shard(task: tuple[Path, int, str, dict]) -> list[dict]:
    """One file of a `per_file_seeds` crawl: its own generator, its own mirrored pages."""
    path, count, seed_text, common = task
    return _write_shard(_Shard(path, None, 0), path.name, count, random.Random(seed_text), [],
                        **common)


def _write_shard(shard: _Shard, name: str, count: int, rng: random.Random,
                 removed_pages: list[tuple[str, list[str], str]], *, start: dt.datetime,
                 crawl: str, seed: int, mean_html_bytes: int,
                 works: list[dict] | None) -> list[dict]:
    """Write one file of `count` captures drawn from `rng`; returns their ground truth.
    `removed_pages` (title, paragraphs, url), the pages later ones may mirror, grows."""
    truth = []
    info = (f"software: clearcrawl-synth\r\nisPartOf: {crawl}\r\n"
            f"description: synthetic sample crawl, seed {seed}\r\n").encode()
    shard.write(warc_record("warcinfo", info, date=start,
                            record_id=str(uuid.UUID(int=rng.getrandbits(128))),
                            extra={"WARC-Filename": name}))
    for _ in range(count):
        host, decision, kind = _choose_host(rng)
        url, url_decision, url_kind = _url_for(rng, host)
        if url_decision:
            decision, kind = url_decision, url_kind
        when = start + dt.timedelta(seconds=rng.randint(0, 6 * 86400))
        size = max(600, int(rng.lognormvariate(0, 0.6) * mean_html_bytes * 0.85))
        title, paragraphs, source = _paragraph(rng, 5)[:60], None, None
        headers, head = {}, ""
        draw = rng.random()
        if decision == "keep" and kind is None and draw > 1 - MIRROR_RATE - SIGNAL_RATE \
                and draw <= 1 - MIRROR_RATE:
            headers, head, decision, kind, _ = rng.choices(
                SIGNAL_PLAN, [w for *_, w in SIGNAL_PLAN])[0]
        elif decision == "keep" and works and draw < WORK_COPY_RATE:
            work = rng.choice(works)
            title, paragraphs = work["title"], _work_copy(rng, work["text"])
            decision, kind, source = "remove", "work_near_duplicate", work["entry_id"]
        elif decision == "keep" and removed_pages and draw > 1 - MIRROR_RATE:
            title, paragraphs, source = rng.choice(removed_pages)
            decision, kind = "remove", "near_duplicate_of_removed"
        elif decision == "remove" and len(removed_pages) < 50:
            paragraphs = [_paragraph(rng, rng.randint(40, 120))
                          for _ in range(max(1, size // 700))]
            removed_pages.append((title, paragraphs, url))
        body = page_html(rng, title, size, paragraphs, head).encode()
        rid = lambda: str(uuid.UUID(int=rng.getrandbits(128)))  # noqa: E731
        request = (f"GET /{url.split('/', 3)[-1]} HTTP/1.1\r\nHost: {host}\r\n"
                   "User-Agent: CCBot/2.0\r\n\r\n").encode()
        shard.write(warc_record("request", request, target_uri=url, date=when,
                                record_id=rid()))
        shard.write(warc_record(
            "response", http_response(body, {"Server": "synthetic", **headers}),
            target_uri=url,
            date=when, record_id=rid(),
            extra={"WARC-Identified-Payload-Type": "text/html"}))
        shard.write(warc_record("metadata", b"fetchTimeMs: 120\r\n",
                                target_uri=url, date=when, record_id=rid()))
        truth.append({"url": url, "decision": decision, "kind": kind, "file": name,
                      "source": source})
    shard.close()
    return truth


DESCRIPTION = __doc__.split("\n")[0]


def add_synth_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--output", required=True)
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mean-html-bytes", type=int, default=9000)
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes: they compress records (the files are the same for "
                             "any value), or with --per-file-seeds write files (default "
                             "%(default)s)")
    parser.add_argument("--per-file-seeds", action="store_true",
                        help="each file from its own generator (seed and file number), so "
                             "files are written in parallel: another crawl than without")
    parser.add_argument("--registry", default="optout_registry",
                        help="plant copies of this registry's works (default %(default)s)")
    return parser


def run_synth(args: argparse.Namespace) -> int:
    works = None
    if Path(args.registry, "registry.toml").is_file():
        from clearcrawl.registry.source import load_source

        works = load_source(args.registry).works
    summary = generate(args.output, args.pages, args.files, args.seed, args.mean_html_bytes,
                       works=works, jobs=args.jobs,
                       per_file_seeds=args.per_file_seeds)
    print(f"wrote {len(summary['files'])} WARC files, {summary['pages']} pages, "
          f"{summary['bytes'] / 1e6:.1f} MB to {args.output}")
    return 0
