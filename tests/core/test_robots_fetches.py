"""The rule that picks today's robots.txt of an origin from its fetch history."""

import datetime as dt

import pytest

from clearcrawl.core import robots_fetches as rf
from clearcrawl.core.policy import Policy


def fetch(day: int, outcome: str, status: int | None, body: bytes | None = None,
          origin: str = "https://example.com:443") -> rf.RobotsFetch:
    return rf.RobotsFetch(
        origin=origin, fetched_at=dt.datetime(2026, 11, day, tzinfo=dt.UTC), outcome=outcome,
        status=status, final_url=rf.robots_url(origin), redirect_chain=(),
        content_type="text/plain", body=body, body_sha256=None, truncated=False,
        body_limit=512 * 1024, error=None if outcome != rf.UNREACHABLE else "HTTP 503",
        attempts=1)


def test_latest_success_wins_and_a_later_failure_never_erases_it():
    early = fetch(1, rf.OK, 200, b"User-agent: *\nAllow: /\n")
    later = fetch(5, rf.OK, 200, b"User-agent: GPTBot\nDisallow: /\n")
    down = fetch(9, rf.UNREACHABLE, 503)
    assert rf.applicable_fetch([down, early, later]) == later
    current = rf.current_robots([later, down, early], unreachable_is_optout=True)
    assert (current.mode, current.fetch) == (rf.RULES, later)


def test_a_4xx_is_a_success_meaning_no_restriction():
    disallow = fetch(1, rf.OK, 200, b"User-agent: *\nDisallow: /\n")
    gone = fetch(3, rf.UNAVAILABLE, 410)
    current = rf.current_robots([disallow, gone, fetch(4, rf.UNREACHABLE, None)], False)
    assert (current.mode, current.fetch) == (rf.NO_RESTRICTION, gone)


@pytest.mark.parametrize("optout, mode", [(False, rf.NO_RESTRICTION), (True, rf.DISALLOW_ALL)])
def test_no_success_is_decided_by_the_policy(optout, mode):
    failures = [fetch(2, rf.UNREACHABLE, 500), fetch(7, rf.UNREACHABLE, None)]
    current = rf.current_robots(failures, unreachable_is_optout=optout)
    assert current.mode == mode
    assert current.fetch == failures[1]  # the latest failure is the evidence


def test_an_origin_never_fetched_has_no_current_robots():
    assert rf.current_robots([], unreachable_is_optout=True) is None


def test_policy_key_defaults_to_false_and_changes_the_policy_id():
    assert Policy().robots_unreachable_is_optout is False
    # Unset, it leaves the policy (and the ids of earlier outputs) as they were.
    assert "robots_unreachable_is_optout" not in Policy().as_dict()
    assert Policy.from_dict({**Policy().as_dict(), "robots_unreachable_is_optout": False}
                            ).policy_id == Policy().policy_id
    strict = Policy.from_dict({**Policy().as_dict(), "robots_unreachable_is_optout": True})
    assert strict.robots_unreachable_is_optout is True
    assert strict.policy_id != Policy().policy_id
    assert Policy.from_dict(strict.as_dict()) == strict


@pytest.mark.parametrize("status, outcome", [
    (200, rf.OK), (204, rf.OK), (404, rf.UNAVAILABLE), (410, rf.UNAVAILABLE),
    (401, rf.UNAVAILABLE), (429, rf.UNREACHABLE), (500, rf.UNREACHABLE), (503, rf.UNREACHABLE)])
def test_outcome_of_status(status, outcome):
    assert rf.outcome_of_status(status) == outcome


@pytest.mark.parametrize("text, origin, url", [
    ("https://Example.COM", "https://example.com:443", "https://example.com/robots.txt"),
    ("http://example.com:8080/some/page", "http://example.com:8080",
     "http://example.com:8080/robots.txt"),
    ("http://[::1]:8000", "http://::1:8000", "http://[::1]:8000/robots.txt"),
])
def test_origins_normalise_like_the_pipeline_keys_documents(text, origin, url):
    assert rf.normalize_origin(text) == origin
    assert rf.robots_url(origin) == url


@pytest.mark.parametrize("text", ["ftp://example.com", "example.com", "", "http://"])
def test_non_http_origins_are_refused(text):
    assert rf.normalize_origin(text) is None
