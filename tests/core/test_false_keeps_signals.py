"""False keeps of issues 16 and 17, row by row: input, expected decision, spec section.

The page table (tests/false_keeps_cases.py) is decided here with the core functions,
each page read from a real WARC record; tests/e2e/test_false_keeps.py filters the
same table as a crawl. The smaller tables below pin the helpers behind the rows.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from clearcrawl import reasons
from clearcrawl.core import aipref, tdmrep
from clearcrawl.core.domains import DomainRule, DomainRuleIndex, normalize_pattern
from clearcrawl.core.policy import DEFAULT_ROBOTS_AGENTS, Policy, decide
from clearcrawl.core.robots import RobotsTxt, is_allowed
from clearcrawl.core.signals import RobotsCapture, SignalContext, evaluate
from clearcrawl.core.urls import normalize_path
from clearcrawl.io.documents import document_from_warc
from clearcrawl.io.warc import WarcRecord, iter_records
from clearcrawl.records import Document
from tests.conftest import BUNDLED_REGISTRY
from tests.false_keeps_cases import PAGES, Page, page_record


def _document(page: Page) -> Document:
    [record] = [r for r in iter_records(io.BytesIO(page_record(page)))
                if isinstance(r, WarcRecord)]
    doc = document_from_warc(record, "mem.warc.gz")
    assert isinstance(doc, Document), doc
    return doc


def _site(pages, field):
    return {p.host: getattr(p, field) for p in pages if getattr(p, field) is not None}


def _decide(page: Page):
    current, sites, aitxts = (_site(PAGES, f) for f in ("current_robots", "tdmrep", "aitxt"))
    ctx = SignalContext(
        policy=Policy(),
        current_robots=lambda host: (RobotsCapture(f"robots/{host}.txt", 200,
                                                   RobotsTxt(current[host]))
                                     if host in current else None),
        site_tdmrep=lambda host: json.loads(sites[host]) if host in sites else None,
        aitxt=lambda host: RobotsTxt(aitxts[host]) if host in aitxts else None,
    )
    capture = (RobotsCapture("capture", page.crawl_robots[0], RobotsTxt(page.crawl_robots[1]),
                             "2026-03-01T00:00:00Z") if page.crawl_robots else None)
    rules = []
    for number, pattern in enumerate(dict.fromkeys(r for p in PAGES for r in p.url_rules)):
        normalized, error = normalize_pattern(pattern)
        assert error is None, error
        rules.append(DomainRule(f"rule-{number}", "optout", normalized))
    doc = _document(page)
    evidence = DomainRuleIndex(rules).match(doc.url, doc.host)
    signals, _ = evaluate(doc, ctx, capture)
    return decide(evidence + signals)


def test_the_table_is_well_formed():
    assert len({p.url for p in PAGES}) == len(PAGES)
    with_files = [p.host for p in PAGES if p.crawl_robots or p.current_robots is not None
                  or p.tdmrep is not None or p.aitxt is not None]
    assert len(with_files) == len(set(with_files)), "one row's site files per host"
    for page in PAGES:
        assert (page.decision == reasons.KEEP) == (page.kinds == ()), page.url
        assert page.spec, page.url


@pytest.mark.parametrize("page", PAGES, ids=[p.url for p in PAGES])
def test_each_page_is_decided_as_its_row_says(page):
    decision, ordered = _decide(page)
    assert (decision, tuple(dict.fromkeys(e.kind for e in ordered))) == (
        page.decision, page.kinds), page.spec
    assert all(e.entry_id and e.detail for e in ordered)


# Today's robots.txt Content-Usage / Content-Signal lines are governed by robots_current,
# like its Disallow rules (issue 17, "wrong removals and gaps").
# (robots.txt of today, robots_current, expected decision, section)
TODAY = [
    ("User-agent: *\nAllow: /\nContent-Usage: / train-ai=n\n", True, "remove",
     "aipref-attach s.3 (today's file applied)"),
    ("User-agent: *\nAllow: /\nContent-Usage: / train-ai=n\n", False, "keep",
     "aipref-attach s.3.3 (no retroactive effect unless the policy says so)"),
    ("User-agent: *\nContent-Signal: ai-train=no\nAllow: /\n", True, "remove",
     "Cloudflare Content Signals (today's file applied)"),
    ("User-agent: *\nContent-Signal: ai-train=no\nAllow: /\n", False, "keep",
     "policy robots_current = false"),
]


@pytest.mark.parametrize("robots,current,expected,section", TODAY)
def test_policy_governs_todays_content_signals(robots, current, expected, section):
    ctx = SignalContext(Policy(robots_current=current),
                        lambda host: RobotsCapture("robots/x.txt", 200, RobotsTxt(robots)),
                        lambda host: None, lambda host: None)
    doc = _document(Page("https://today.example/a", "", (), ""))
    evidence, _ = evaluate(doc, ctx, None)
    assert decide(evidence)[0] == expected, section
    # The same lines in the crawl-time capture always count (aipref-attach s.3.3).
    capture = RobotsCapture("capture", 200, RobotsTxt(robots), "2026-03-01T00:00:00Z")
    evidence, _ = evaluate(doc, ctx, capture)
    assert decide(evidence)[0] == "remove"


# urls.normalize_path: (input, normalised, RFC 3986 section)
NORMALISED = [
    ("/caf%c3%a9/1", "/caf%C3%A9/1", "6.2.2.1 upper-case escapes"),
    ("/café/1", "/caf%C3%A9/1", "2.5 non-ASCII as UTF-8 escapes"),
    ("/%7Eprivate/%41", "/~private/A", "6.2.2.2 decode unreserved"),
    ("/a%2Fb%3f", "/a%2Fb%3F", "2.2 reserved stay encoded"),
    ("/a b", "/a%20b", "2.1 space encoded"),
    ("/a/b/c/./../../g", "/a/g", "5.2.4 example"),
    ("/free/../premium/x", "/premium/x", "5.2.4"),
    ("/free/%2e%2E/premium/x", "/premium/x", "2.3 then 5.2.4"),
    ("/..", "/", "5.2.4 above the root"),
    ("/a/.", "/a/", "5.2.4 trailing dot"),
    ("/x/./y?q=/../z", "/x/y?q=/../z", "5.2.4 applies to the path only"),
    ("/.well-known/a...b", "/.well-known/a...b", "5.2.4 dots inside a segment stay"),
]


@pytest.mark.parametrize("raw,expected,section", NORMALISED)
def test_normalize_path(raw, expected, section):
    assert normalize_path(raw) == expected, section
    assert normalize_path(expected) == expected  # idempotent


def test_is_allowed_stays_the_reference_parser():
    """The pipeline normalises; `is_allowed` keeps robots.cc's literal matching (both
    conformance suites pin it, e.g. `/foo/bar/%62%61%7A` does not match `/foo/bar/baz`)."""
    body = "User-agent: *\nDisallow: /~private/\n"
    assert is_allowed(body, "GPTBot", "https://x/%7Eprivate/a")
    assert not RobotsTxt(body).normalized_verdict("GPTBot", normalize_path("/%7Eprivate/a")
                                                  ).allowed


# aipref.preferences + denies_training: (expression, denies AI training, section)
EXPRESSIONS = [
    ("train-ai=n", True, "vocab 6.5"),
    ("train-ai=n;reason=x", True, "vocab 6.4: parameters ignored"),
    ("  train-ai=n  ", True, "RFC 9651 4.2: surrounding spaces discarded"),
    ("TRAIN-AI=n", False, "vocab 6.5: upper-case key fails the parse"),
    ("train-ai=N", False, "vocab 6.2: Token n only"),
    ('train-ai="n"', False, "vocab 6.5: a String"),
    ("train-ai=no", False, "vocab 6.2"),
    ("train-ai = n", False, "RFC 9651 4.2.2"),
    ("search=y;train-ai=n", False, "vocab 6.4: a parameter"),
    ("train-ai", False, "vocab 6.5: a Boolean"),
    ("train-ai=n,", False, "RFC 9651 4.2.2: trailing comma fails the parse"),
    ("bots=n", True, "vocab 4.1, 5: broader category"),
    ("all=n", True, "vocab 4.1, 5: broader category (earlier label)"),
    ("all=y, bots=n", True, "vocab 5.1 combining: restrictive"),
    ("bots=n, train-ai=y", False, "vocab 5.1: specific overrides"),
    ("train-ai=y, train-genai=n", True, "vocab 4.3: generative training"),
    ("search=n, ai-use=n", False, "vocab 4: not training"),
    ("x-custom=n", False, "vocab 6.4: unknown label"),
]


@pytest.mark.parametrize("expression,denied,section", EXPRESSIONS)
def test_content_usage_expressions(expression, denied, section):
    assert aipref.denies_training(aipref.preferences(expression)) is denied, section


# (robots.txt Content-Usage value, (path, expression)): aipref-attach s.3.2
@pytest.mark.parametrize("value,expected", [
    ("/x/ train-ai=n", ("/x/", "train-ai=n")),
    ("/x/\ttrain-ai=n", ("/x/", "train-ai=n")),
    ("/x/ \t train-ai=n", ("/x/", "train-ai=n")),
    ("train-ai=n", ("/", "train-ai=n")),  # no path: the whole site (lenient)
])
def test_content_usage_rule_path_ends_at_sp_or_htab(value, expected):
    assert aipref.robots_rule(value) == expected


# tdmrep.reservation_value: (value, reservation, TDMRep section)
@pytest.mark.parametrize("value,expected", [
    (1, 1), (1.0, 1), (0.0, 0), (True, 1), (False, 0), ("1", 1), (" 0 ", 0),
    (2, None), (0.5, None), ("1.0", None), ("yes", None), (None, None),
])
def test_tdm_reservation_values(value, expected):
    assert tdmrep.reservation_value(value) == expected


def test_curated_agents_cover_the_ai_robots_txt_catalogue(shared_data):
    """issue 17 item 9: each token of robots.json counts by default or is named in the
    registry README with the reason it is left out; registry.toml says the same."""
    catalogue = json.loads((shared_data / "ai-robots-txt" / "robots.json").read_text())
    readme = (BUNDLED_REGISTRY / "README.md").read_text()
    section = readme.split("## Training crawlers", 1)[1].split("\n## ", 1)[0]
    counted_part, left_out_part = section.split("Every other token is left out", 1)
    left_out = set(re.findall(r"`([^`]+)`", left_out_part))
    counted = {a.lower() for a in DEFAULT_ROBOTS_AGENTS}
    for token in catalogue:
        product = re.match(r"[A-Za-z0-9_-]+", token).group(0).lower()
        covered = token.lower() in counted or (product in counted and token in counted_part)
        assert covered != (token in left_out), token  # exactly one of the two
    assert left_out <= set(catalogue)  # no stale names
    for token in ("FacebookBot", "DeepSeekBot", "TikTokSpider", "Timpibot", "Ai2Bot-Dolma",
                  "ICC-Crawler", "Cotoyogi"):
        assert token in DEFAULT_ROBOTS_AGENTS
    toml = (BUNDLED_REGISTRY / "registry.toml").read_text()
    listed = re.search(r"robots_agents = \[(.*?)\]", toml, re.S).group(1)
    assert tuple(re.findall(r'"([^"]+)"', listed)) == DEFAULT_ROBOTS_AGENTS
