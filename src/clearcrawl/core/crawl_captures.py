"""Crawl-time robots.txt captures: where a redirect led, and which capture was in force.

A crawl may fetch one origin's robots.txt several times, and a fetch may answer
with a redirect. Two pure steps, used alike by the pipeline (a keyed join, one
redirect per round) and by `resolve_all` (in memory, for tests and small sets):

- Redirects (RFC 9309 2.3.1.2): a 3xx capture is followed through the other
  captures given, up to MAX_REDIRECTS redirects, across origins; the target's
  status and rules then apply to the origin asked for. Of several captures of a
  target URL, the one closest in time to the redirect is taken (the crawler
  follows a redirect at once; a tie goes to the earlier). A chain that cannot be
  resolved in the captures (target never captured, a loop, more than five
  redirects, no Location) is *unresolved*: treated as an unreachable robots.txt,
  i.e. a complete disallow, and the evidence says "unresolved redirect". Why: the
  captures cannot show the crawler was allowed, and a compliance filter must not
  read a gap in its evidence as consent (RFC 9309 lets a *crawler* treat more
  than five redirects as "unavailable"; that is a crawler's permission, not the
  site owner's choice).
- In force (issue 17.2): a page is judged by the latest capture of its origin at
  or before the page's fetch time. When every capture is later than the page,
  the earliest capture applies (the closest evidence of the site's rules), and
  the evidence says it came after the page. A page without a fetch time gets
  the latest capture.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

from clearcrawl.core.robots import RobotsTxt
from clearcrawl.core.signals import RobotsCapture
from clearcrawl.core.urls import origin_key, split_url
from clearcrawl.records import FastPickle, fast_pickle

MAX_REDIRECTS = 5
# Captures without a readable date sort first: any dated capture is preferred.
_UNDATED = dt.datetime.min.replace(tzinfo=dt.UTC)


def capture_key(url: str) -> str:
    """The URL as captures are looked up: origin (scheme://host:port) + path?query."""
    return origin_key(url) + split_url(url).path


def is_robots_url(url: str) -> bool:
    return split_url(url).path.split("?")[0] == "/robots.txt"


@fast_pickle
@dataclass(frozen=True, slots=True)
class Capture(FastPickle):
    """One fetch in a robots.txt capture WARC, as recorded."""

    url: str
    date: str  # WARC-Date text, shown in evidence
    when: dt.datetime | None  # WARC-Date parsed (aware UTC), None if unreadable
    status: int | None
    body: bytes
    source_id: str  # "<warc uri>@<offset>"
    location: str = ""  # Location header of a 3xx response

    @property
    def is_redirect(self) -> bool:
        return self.status is not None and 300 <= self.status < 400

    @property
    def time(self) -> dt.datetime:
        return self.when or _UNDATED


@fast_pickle
@dataclass(frozen=True, slots=True)
class Resolved(FastPickle):
    """One capture of an origin's robots.txt, any redirect followed.

    `status`/`body`/`source_id` are those of the capture whose rules apply (the
    redirect target, if any); `status` None means unreachable or unresolved.
    `chain`: the URLs from the origin's robots.txt to the target, () without a
    redirect; `unresolved`: why a redirect chain could not be resolved, or "".
    """

    origin: str
    date: str  # of the origin's own capture: when these rules came into force
    when: dt.datetime | None
    capture_id: str  # the origin's own capture record
    source_id: str
    status: int | None
    body: bytes
    chain: tuple[str, ...] = ()
    unresolved: str = ""

    @property
    def time(self) -> dt.datetime:
        return self.when or _UNDATED

    def note(self) -> str:
        """What the evidence adds about the redirect ("" without one)."""
        if not self.chain:
            return ""
        hops = " -> ".join(self.chain)
        if self.unresolved:
            return f"unresolved redirect {hops}: {self.unresolved}"
        return f"redirected {hops}"


@fast_pickle
@dataclass(frozen=True, slots=True)
class Pending(FastPickle):
    """A redirect chain waiting for its next target: chain[0] is the origin's capture,
    chain[-1] the 3xx to follow."""

    chain: tuple[Capture, ...]

    @property
    def target_url(self) -> str:
        last = self.chain[-1]
        return urljoin(last.url, last.location.strip())

    @property
    def target_key(self) -> str:
        return capture_key(self.target_url)


def start(capture: Capture) -> Resolved | Pending:
    """An origin's capture: resolved at once unless it is a redirect."""
    if not capture.is_redirect:
        return _resolved((capture,))
    return _next((capture,))


def follow(pending: Pending, candidates: Sequence[Capture]) -> Resolved | Pending:
    """One redirect followed: `candidates` are the captures of its target URL."""
    if not candidates:
        return _unresolved((*_urls(pending.chain), pending.target_url), pending.chain[0],
                           "target not captured")
    when = pending.chain[-1].time
    target = min(candidates, key=lambda c: (abs(c.time - when), c.time, c.source_id))
    if any(capture_key(c.url) == capture_key(target.url) for c in pending.chain):
        return _unresolved((*_urls(pending.chain), target.url), pending.chain[0],
                           "redirect loop")
    chain = (*pending.chain, target)
    return _next(chain) if target.is_redirect else _resolved(chain)


def _next(chain: tuple[Capture, ...]) -> Resolved | Pending:
    last = chain[-1]
    if not last.location.strip():
        return _unresolved(_urls(chain), chain[0], f"{last.status} without a Location")
    if len(chain) > MAX_REDIRECTS:
        return _unresolved((*_urls(chain), Pending(chain).target_url), chain[0],
                           f"more than {MAX_REDIRECTS} redirects")
    return Pending(chain)


def _resolved(chain: tuple[Capture, ...]) -> Resolved:
    first, last = chain[0], chain[-1]
    return Resolved(origin_key(first.url), first.date, first.when, first.source_id,
                    last.source_id, last.status, last.body,
                    _urls(chain) if len(chain) > 1 else ())


def _unresolved(hops: tuple[str, ...], first: Capture, why: str) -> Resolved:
    return Resolved(origin_key(first.url), first.date, first.when, first.source_id,
                    first.source_id, None, b"", hops, why)


def _urls(chain: tuple[Capture, ...]) -> tuple[str, ...]:
    return tuple(c.url for c in chain)


def resolve_all(captures: Iterable[Capture]) -> list[Resolved]:
    """Every robots.txt capture of `captures` resolved through the others, in memory."""
    captures = list(captures)
    by_key: dict[str, list[Capture]] = {}
    for capture in captures:
        by_key.setdefault(capture_key(capture.url), []).append(capture)
    out = []
    for capture in captures:
        if not is_robots_url(capture.url):
            continue  # only a redirect target
        state = start(capture)
        while isinstance(state, Pending):
            state = follow(state, by_key.get(state.target_key, []))
        out.append(state)
    return out


class InForce:
    """One origin's resolved captures, to ask which applied at a page's fetch time."""

    def __init__(self, captures: Iterable[Resolved]):
        self.captures = sorted(captures, key=lambda c: (c.time, c.capture_id))
        self._times = [c.time for c in self.captures]
        self._parsed: dict[int, RobotsTxt] = {}

    def at(self, fetch_time: dt.datetime | None) -> tuple[Resolved, str]:
        """(the capture in force, a note for the evidence: "" when it is plainly the
        latest capture at or before the page)."""
        index, note = self._index_at(fetch_time)
        return self.captures[index], note

    def robots_at(self, fetch_time: dt.datetime | None) -> RobotsCapture:
        """The capture in force as signals.evaluate takes it, the redirect chain and
        `at`'s note said in its evidence (each capture parsed once)."""
        index, note = self._index_at(fetch_time)
        capture = self.captures[index]
        robots = self._parsed.get(index)
        if robots is None:
            robots = self._parsed[index] = RobotsTxt(capture.body)
        said = "; ".join(n for n in (capture.note(), note) if n)
        return RobotsCapture(capture.source_id, capture.status, robots, capture.date, said)

    def _index_at(self, fetch_time: dt.datetime | None) -> tuple[int, str]:
        last = len(self.captures) - 1
        if fetch_time is None:
            return last, "page fetch time unknown: latest capture" if last else ""
        index = bisect.bisect_right(self._times, fetch_time)
        if index:
            return index - 1, ""
        fetched = fetch_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 0, f"after the page's fetch {fetched}: no earlier capture"
