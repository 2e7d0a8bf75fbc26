"""Which crawl-time robots.txt capture applies to a page (issue 17.2), and where a
redirected capture leads (issue 16.3, RFC 9309 2.3.1.2): table tests of the pure rules."""

from __future__ import annotations

import datetime as dt

import pytest

from clearcrawl.core.crawl_captures import Capture, InForce, resolve_all

AGENT = "GPTBot"


def _when(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-{day}T00:00:00+00:00")


def cap(url: str, day: str, status: int | None = 200, body: str = "", location: str = "",
        sid: str | None = None) -> Capture:
    return Capture(url, f"2026-{day}T00:00:00Z", _when(day), status, body.encode(),
                   sid or f"{url}@{day}", location)


BLOCK = "User-agent: GPTBot\nDisallow: /\n"
A = "https://a.example/robots.txt"
B = "https://b.example/robots.txt"


def _by_origin(captures):
    out: dict[str, list] = {}
    for r in resolve_all(captures):
        out.setdefault(r.origin, []).append(r)
    return out


# (case, captures, page fetch day or None, expected: allowed?, status applied, note part)
IN_FORCE = [
    ("latest at or before the page (17.2)",
     [cap(A, "03-01", 200, BLOCK), cap(A, "03-20", 404)], "03-05", False, 200, ""),
    ("a later 404 applies after its date",
     [cap(A, "03-01", 200, BLOCK), cap(A, "03-20", 404)], "03-25", True, 404, ""),
    ("a 503 at the end of the crawl does not reach back (17.2)",
     [cap(A, "03-01", 404), cap(A, "03-30", 503)], "03-05", True, 404, ""),
    ("... but applies to pages fetched after it",
     [cap(A, "03-01", 404), cap(A, "03-30", 503)], "03-31", False, 503, ""),
    ("a capture on the page's own second applies",
     [cap(A, "03-01", 404), cap(A, "03-05", 200, BLOCK)], "03-05", False, 200, ""),
    ("every capture after the page: the earliest, said in the evidence",
     [cap(A, "03-20", 404), cap(A, "03-10", 200, BLOCK)], "03-05", False, 200,
     "after the page's fetch 2026-03-05T00:00:00Z"),
    ("no fetch time: the latest, said when there was a choice",
     [cap(A, "03-01", 200, BLOCK), cap(A, "03-20", 404)], None, True, 404,
     "page fetch time unknown"),
    ("one capture, no fetch time: nothing to say",
     [cap(A, "03-01", 200, BLOCK)], None, False, 200, ""),
]


@pytest.mark.parametrize("case,captures,day,allowed,status,note", IN_FORCE,
                         ids=[c[0] for c in IN_FORCE])
def test_capture_in_force(case, captures, day, allowed, status, note):
    in_force = InForce(_by_origin(captures)["https://a.example:443"])
    robots = in_force.robots_at(_when(day) if day else None)
    assert robots.status == status
    usable = robots.status is not None and 200 <= robots.status < 300
    blocked = (robots.status is None or robots.status >= 500
               or (usable and not robots.robots.allowed(AGENT, "https://a.example/x")))
    assert (not blocked) == allowed
    assert (note in robots.note) if note else robots.note == ""


def _chain(n: int, last_body: str = BLOCK, start: str = "a") -> list[Capture]:
    """n redirects: robots.txt of `start` -> hop1 -> ... -> hop n (a 200)."""
    urls = [f"https://{start}.example/robots.txt"] + [
        f"https://hop{i}.example/robots.txt" for i in range(1, n + 1)]
    caps = [cap(url, "03-01", 301, location=urls[i + 1]) for i, url in enumerate(urls[:-1])]
    return caps + [cap(urls[-1], "03-01", 200, last_body)]


# (case, captures, expected status, expected chain length, unresolved reason part)
REDIRECTS = [
    ("no redirect", [cap(A, "03-01", 200, BLOCK)], 200, 0, ""),
    ("same origin, relative Location (2.3.1.2)",
     [cap(A, "03-01", 302, location="/robots/real.txt"),
      cap("https://a.example/robots/real.txt", "03-01", 200, BLOCK)], 200, 2, ""),
    ("across origins: the target's rules, for the origin asked (2.3.1.2)",
     [cap(A, "03-01", 301, location=B), cap(B, "03-01", 200, BLOCK)], 200, 2, ""),
    ("target answered 503: the 503 applies", [cap(A, "03-01", 301, location=B),
                                             cap(B, "03-01", 503)], 503, 2, ""),
    ("target answered 404: no restriction", [cap(A, "03-01", 301, location=B),
                                            cap(B, "03-01", 404, BLOCK)], 404, 2, ""),
    ("five redirects: resolved (at least five, 2.3.1.2)", _chain(5), 200, 6, ""),
    ("six redirects: unresolved", _chain(6), None, 7, "more than 5 redirects"),
    ("target never captured: unresolved", [cap(A, "03-01", 301, location=B)], None, 2,
     "target not captured"),
    ("a loop: unresolved", [cap(A, "03-01", 301, location=B),
                            cap(B, "03-01", 301, location=A)], None, 3, "redirect loop"),
    ("3xx without Location: unresolved", [cap(A, "03-01", 302)], None, 1,
     "302 without a Location"),
]


@pytest.mark.parametrize("case,captures,status,hops,why", REDIRECTS,
                         ids=[c[0] for c in REDIRECTS])
def test_redirect_resolution(case, captures, status, hops, why):
    resolved = _by_origin(captures)["https://a.example:443"]
    assert len(resolved) == 1
    r = resolved[0]
    assert r.status == status
    assert len(r.chain) == hops
    assert r.unresolved == why if why else r.unresolved == ""
    if why:
        assert r.note().startswith("unresolved redirect https://a.example/robots.txt")
        assert r.note().endswith(why)
    elif hops:
        assert r.note().startswith("redirected https://a.example/robots.txt -> ")
        assert r.capture_id != r.source_id  # the rules are the target's record


def test_redirect_target_closest_in_time_to_the_redirect():
    captures = [cap(A, "03-10", 301, location=B),
                cap(B, "03-01", 200, BLOCK), cap(B, "03-11", 404), cap(B, "03-30", 200, BLOCK)]
    (r,) = _by_origin(captures)["https://a.example:443"]
    assert r.status == 404 and r.date == "2026-03-10T00:00:00Z"


def test_each_capture_of_an_origin_resolved_on_its_own():
    captures = [cap(A, "03-01", 301, location=B), cap(B, "03-01", 200, BLOCK),
                cap(A, "03-20", 404)]
    resolved = sorted(_by_origin(captures)["https://a.example:443"], key=lambda r: r.date)
    assert [(r.status, len(r.chain)) for r in resolved] == [(200, 2), (404, 0)]
    # B's own capture applies to B too; a non-robots.txt URL is only ever a target.
    assert [r.status for r in _by_origin(captures)["https://b.example:443"]] == [200]
