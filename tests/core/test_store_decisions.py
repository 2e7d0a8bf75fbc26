"""Today's robots.txt from a robots store as evidence, and refilter's rule for a newer store."""

from __future__ import annotations

from clearcrawl import reasons
from clearcrawl.core import robots_fetches as rf
from clearcrawl.core.policy import Policy
from clearcrawl.core.signals import SignalContext, evaluate
from clearcrawl.core.store_decisions import redecide, store_capture, store_label
from clearcrawl.io.documents import make_document
from clearcrawl.records import Evidence
from tests.core.test_robots_fetches import fetch

LABEL = store_label("ab" * 32)
GPTBOT = b"User-agent: GPTBot\nDisallow: /private/\n\nUser-agent: *\nContent-Signal: ai-train=no\n"


def _evidence(current, policy=None, url="https://example.com/private/x"):
    ctx = SignalContext(policy or Policy(), lambda _: None, lambda _: None, lambda _: None)
    doc = make_document(url=url, text="t", source_uri="s", offset=0)
    return evaluate(doc, ctx, None, store_capture(current, LABEL))[0]


def test_rules_name_the_store_the_fetch_date_and_the_deciding_line():
    current = rf.current_robots([fetch(3, rf.OK, 200, GPTBOT), fetch(9, rf.UNREACHABLE, 503)],
                                False)
    found = _evidence(current)
    assert LABEL == "robots-store:" + "ab" * 8
    assert [(e.kind, e.entry_id) for e in found] == [(reasons.ROBOTS_CURRENT, LABEL),
                                                     (reasons.CONTENT_USAGE, LABEL)]
    assert "2026-11-03T00:00:00Z" in found[0].detail
    assert "line 2 Disallow: /private/ for GPTBot" in found[0].detail
    # robots_current = false: no line of today's file counts, Content-Signal included
    assert _evidence(current, Policy(robots_current=False)) == []
    assert [e.kind for e in _evidence(current, url="https://example.com/open")] == [
        reasons.CONTENT_USAGE]


def test_no_success_follows_the_policy_and_a_4xx_or_no_row_restricts_nothing():
    failures = [fetch(2, rf.UNREACHABLE, 503)]
    assert _evidence(rf.current_robots(failures, False)) == []
    [disallow] = _evidence(rf.current_robots(failures, True))
    assert disallow.entry_id == LABEL and "complete disallow" in disallow.detail
    assert _evidence(rf.current_robots([fetch(2, rf.UNAVAILABLE, 404)], True)) == []
    assert _evidence(None) == []


def test_redecide_replaces_the_older_store_but_never_brings_a_page_back():
    old = Evidence(reasons.ROBOTS_CURRENT, "robots-store:1111", "old")
    new = Evidence(reasons.ROBOTS_CURRENT, LABEL, "new")
    domain = Evidence(reasons.DOMAIN_OPTOUT, "d1", "domain")
    assert redecide([old], [new]) == ([new], False)
    assert redecide([old, domain], []) == ([domain], False)  # removed anyway: as a full run
    assert redecide([old], []) == ([old], True)  # allowed again, text gone: restorable
    assert redecide([], [new]) == ([new], False)
