"""Today's robots.txt of an origin, from its fetch history (pure: no I/O, no Beam).

RFC 9309 section 2.3.1 names three outcomes of a fetch, and the robots store records
each fetch under one of them:

- `ok`: a 2xx answer (after at most five redirects); its rules apply;
- `unavailable`: a 4xx answer, or more than five redirects; no restriction;
- `unreachable`: a 5xx answer, a 429, a timeout, a refused connection, an unusable
  redirect; for a crawler this is a complete disallow.

Applying *today's* robots.txt to pages crawled years ago is a different question from
crawling: a host that is down today did not thereby opt out of past crawls, and a
failure tells nothing about what the site wants. So the rule that applies is the
latest *successful* fetch (`ok` or `unavailable`), a failure never erases an earlier
success, and an origin with no successful fetch at all is decided by the policy key
`robots_unreachable_is_optout` (default false).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from clearcrawl.core.urls import origin_key, split_url

OK = "ok"
UNAVAILABLE = "unavailable"
UNREACHABLE = "unreachable"
OUTCOMES = (OK, UNAVAILABLE, UNREACHABLE)
SUCCESSFUL = frozenset({OK, UNAVAILABLE})

# RFC 9309 2.3.1.2: follow at least five consecutive redirects; beyond, "unavailable".
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class RobotsFetch:
    """One fetch of an origin's /robots.txt: a row of the robots store."""

    origin: str                    # `scheme://host:port`, as `core.urls.origin_key` gives
    fetched_at: dt.datetime        # UTC, start of the last attempt
    outcome: str                   # OK | UNAVAILABLE | UNREACHABLE
    status: int | None             # HTTP status of the last answer; None without one
    final_url: str                 # the URL whose answer is recorded
    redirect_chain: tuple[str, ...]  # URLs redirected to, in order (the first URL excluded)
    content_type: str | None
    body: bytes | None             # 2xx body, raw bytes, at most `body_limit` of them
    body_sha256: str | None        # of `body` (the bytes kept)
    truncated: bool                # the answer was longer than `body_limit`
    body_limit: int
    error: str | None
    attempts: int                  # tries within the command (retries with backoff)

    @property
    def successful(self) -> bool:
        return self.outcome in SUCCESSFUL


def outcome_of_status(status: int) -> str:
    """The RFC 9309 outcome of a final (non-redirect) HTTP status.

    429 counts as unreachable, as Google's crawlers read it: "slow down" says nothing
    about what the site allows, and reading it as 4xx would erase an earlier disallow.
    """
    if 200 <= status < 300:
        return OK
    if 400 <= status < 500 and status != 429:
        return UNAVAILABLE
    return UNREACHABLE


def is_redirect(status: int) -> bool:
    return status in _REDIRECT_STATUSES


def normalize_origin(text: str) -> str | None:
    """`scheme://host[:port]` (a URL's path is ignored) as `core.urls.origin_key` spells
    it, default port explicit; None unless the scheme is http or https and there is a host."""
    parts = split_url(text)
    if parts.scheme not in ("http", "https") or not parts.host:
        return None
    return origin_key(text)


def robots_url(origin: str) -> str:
    """The /robots.txt URL of an origin key, default port dropped."""
    scheme, rest = origin.split("://", 1)
    host, port = rest.rsplit(":", 1)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": "80", "https": "443"}[scheme]
    return f"{scheme}://{host}{'' if port == default else ':' + port}/robots.txt"


# Which of two fetches is the later: by time, and ties (the same microsecond) broken on
# content, never on input order; a missing value counts lowest. The store's bulk reader
# sorts by the same fields (robots_store.reading.iter_applicable): one rule.
RECENCY_FIELDS = ("fetched_at", "outcome", "body_sha256", "status")


def _recency(fetch: RobotsFetch) -> tuple:
    return tuple((value is not None, value)
                 for value in (getattr(fetch, name) for name in RECENCY_FIELDS))


def applicable_fetch(history: Iterable[RobotsFetch]) -> RobotsFetch | None:
    """The fetch whose answer decides today's robots.txt of one origin: the latest
    successful one (`ok` or `unavailable`). None when no fetch succeeded."""
    return max((f for f in history if f.successful), key=_recency, default=None)


def latest_fetch(history: Iterable[RobotsFetch]) -> RobotsFetch | None:
    return max(history, key=_recency, default=None)


@dataclass(frozen=True)
class CurrentRobots:
    """What today's robots.txt says for an origin, for the pipeline's keyed join.

    `mode` is `rules` (parse `fetch.body`), `no_restriction` (4xx, too many redirects,
    or no successful fetch under the default policy) or `disallow_all` (no successful
    fetch and `robots_unreachable_is_optout = true`). `fetch` is the deciding fetch:
    the applicable one, or the latest failure when there is none.
    """

    origin: str
    mode: str
    fetch: RobotsFetch


RULES, NO_RESTRICTION, DISALLOW_ALL = "rules", "no_restriction", "disallow_all"


def current_robots(history: Iterable[RobotsFetch],
                   unreachable_is_optout: bool) -> CurrentRobots | None:
    """Today's robots.txt of one origin from every fetch of it; None without any fetch
    (an origin the store never tried: nothing is known, nothing is decided)."""
    history = list(history)
    chosen = applicable_fetch(history)
    if chosen is not None:
        mode = RULES if chosen.outcome == OK else NO_RESTRICTION
        return CurrentRobots(chosen.origin, mode, chosen)
    last = latest_fetch(history)
    if last is None:
        return None
    return CurrentRobots(last.origin, DISALLOW_ALL if unreachable_is_optout else NO_RESTRICTION,
                         last)
