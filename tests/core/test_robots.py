"""robots.txt: both reference conformance suites, read in place, and the real corpus."""

from __future__ import annotations

import base64
import json

import pytest

from clearcrawl.core.robots import (
    CONTENT_SIGNAL,
    CONTENT_USAGE,
    MAX_ROBOTS_BYTES,
    RobotsTxt,
    allowed_for_status,
    escape_pattern,
    is_allowed,
    is_valid_agent,
    path_params_query,
)


def _body(case):
    if case.get("robots_txt") is None and case.get("robots_txt_base64"):
        return base64.b64decode(case["robots_txt_base64"])
    return case["robots_txt"]


def _suite(shared_data, name, file):
    return json.loads((shared_data / "robots-conformance" / name / file).read_text())


def test_google_reference_parser_cases_all_pass(shared_data):
    suite = _suite(shared_data, "google-robotstxt", "robots_test_cases.json")
    cases = suite["cases"]
    assert len(cases) == 145
    failed = [c["id"] for c in cases
              if is_allowed(_body(c), c["user_agent"], c["url"]) != c["expected_allowed"]]
    assert failed == []
    for case in suite["get_path_params_query_cases"]:
        assert path_params_query(case["url"]) == case["expected_path_params_query"], case
    for case in suite["maybe_escape_pattern_cases"]:
        assert escape_pattern(case["pattern"]) == case["expected_escaped"], case
    for case in suite["user_agent_validity_cases"]:
        assert is_valid_agent(case["user_agent"]) == case["expected_valid"], case


def test_google_spec_test_expectations_all_pass(shared_data):
    cases = _suite(shared_data, "google-robotstxt-spec-test", "ctc_cases.json")["cases"]
    assert len(cases) == 400
    failed = [(c["file"], c["test_index"], c["url"]) for c in cases
              if is_allowed(_body(c), c["user_agent"], c["url"]) != c["expected_allowed"]]
    assert failed == []


def test_every_real_robots_file_parses(shared_data):
    files = sorted((shared_data / "robots-corpus" / "protego-top-sites-2019" / "robots").iterdir())
    assert len(files) == 4231
    groups_seen = 0
    for path in files:
        robots = RobotsTxt(path.read_bytes())
        robots.allowed("GPTBot", "https://example.com/some/page?x=1")
        groups_seen += bool(robots.lines)
    assert groups_seen > 3500  # nearly all real files hold rules


def test_unknown_lines_never_end_a_group():
    body = ("User-agent: GPTBot\nSitemap: https://x/s.xml\nCrawl-delay: 5\n"
            "Content-Usage: train-ai=n\nLicense: https://x/l.xml\nDisallow: /private\n")
    assert not is_allowed(body, "GPTBot", "https://x/private/a")
    assert is_allowed(body, "GPTBot", "https://x/public")
    assert RobotsTxt(body).licenses == ["https://x/l.xml"]


# A line between two User-agent lines that is not Allow/Disallow does not end the group:
# the second agent's rules apply to the first too (RFC 9309 2.2.4 "other records MUST NOT
# interfere"; Google robots.cc: only Allow/Disallow set the group separator).
# (line between the two agents, GPTBot allowed on /a?)
BETWEEN_AGENTS = [
    ("Content-Signal: search=yes, ai-train=no", False),  # RFC 9309 2.2.4; issue 16 s.3
    ("Content-Usage: train-ai=n", False),                 # RFC 9309 2.2.4; aipref-attach s.3
    ("Content-Usage: /x/ train-ai=n", False),             # RFC 9309 2.2.4
    ("Sitemap: https://x/sitemap.xml", False),            # RFC 9309 2.2.4 (sitemaps)
    ("Crawl-delay: 10", False),                           # RFC 9309 2.2.4
    ("License: https://x/license.xml", False),            # RFC 9309 2.2.4 (RSL)
    ("Host: x", False),                                   # RFC 9309 2.2.4 (unknown)
    ("# a comment", False),                               # RFC 9309 2.2 (comments)
    ("", False),                                          # blank lines never end a group
    ("Disallow: /elsewhere", True),                       # a rule does end it (2.2.1)
    ("Allow: /elsewhere", True),                          # a rule does end it (2.2.1)
]


@pytest.mark.parametrize("line,allowed", BETWEEN_AGENTS)
def test_non_rule_lines_between_agents_keep_one_group(line, allowed):
    body = f"User-agent: GPTBot\n{line}\nUser-agent: CCBot\nDisallow: /\n"
    assert is_allowed(body, "GPTBot", "https://x/a") is allowed
    assert not is_allowed(body, "CCBot", "https://x/a")


def test_extension_lines_between_agents_belong_to_the_whole_group():
    body = ("User-agent: GPTBot\nContent-Signal: ai-train=no\nUser-agent: CCBot\n"
            "Content-Usage: /a/ train-ai=n\nAllow: /\nUser-agent: Other\nDisallow: /\n")
    robots = RobotsTxt(body)
    for agent in ("GPTBot", "CCBot"):
        assert [line.value for line in robots.extension_lines(agent, CONTENT_SIGNAL)] == [
            "ai-train=no"]
        assert [line.value for line in robots.extension_lines(agent, CONTENT_USAGE)] == [
            "/a/ train-ai=n"]
        assert robots.allowed(agent, "https://x/a")
    assert robots.extension_lines("Other", CONTENT_SIGNAL) == []


def test_only_unknown_lines_allow_everything():
    assert is_allowed("Sitemap: /s.xml\nHost: x\nfoo bar baz\n", "GPTBot", "https://x/any")


def test_rules_past_512_kib_count_up_to_the_memory_bound():
    filler = "# " + "x" * 1000 + "\n"
    head = "User-agent: *\n" + filler * 515  # the rule starts past 500 KiB
    body = head + "Disallow: /late\n"
    assert 500 * 1024 < len(body.encode())
    assert not is_allowed(body, "GPTBot", "https://x/late")
    far = head + filler * 400 + "Disallow: /far\n"  # past 900 KiB
    assert not RobotsTxt(far).truncated and not is_allowed(far, "GPTBot", "https://x/far")
    assert MAX_ROBOTS_BYTES >= 4 * 1024 * 1024  # "several MiB": README states the bound
    huge = RobotsTxt("User-agent: *\n" + "#" * MAX_ROBOTS_BYTES + "\nDisallow: /beyond\n")
    assert huge.truncated and huge.allowed("GPTBot", "https://x/beyond")


def _longest_match_reference(body: bytes) -> list[tuple[str, bool]]:
    """The (pattern, is_allow) rules of a file made of `User-agent: *` and literal rules.

    Spelled out here, not taken from the code under test: RFC 9309 2.2.2 longest
    match over every rule of the body, however long the body is (as Google's
    robots.cc, which parses the whole body).
    """
    rules = []
    for raw in body.decode("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        key, _, value = line.partition(":")
        if key.strip().lower() in ("allow", "disallow") and value.strip():
            rules.append((value.strip(), key.strip().lower() == "allow"))
    return rules


def _reference_allowed(rules, path: str) -> bool:
    matches = [(len(p), allow) for p, allow in rules if path.startswith(p)]
    return not matches or max(matches)[1]


def test_docs_oracle_com_rules_past_512_kib_agree_with_the_reference(shared_data):
    """issue 16 s.3: the 18 disagreements with robots.cc on the corpus were all rules of
    this 853 KB file past the old 512 KiB bound. Queries are made from its own rules
    beyond that point (and siblings that no rule covers)."""
    path = shared_data / "robots-corpus" / "protego-top-sites-2019" / "robots" / "docs.oracle.com"
    body = path.read_bytes()
    assert len(body) > 800 * 1024
    text = body.decode("utf-8")
    assert text.count("User-agent:") == 1 and "User-agent: *" in text and "Allow:" not in text
    rules = _longest_match_reference(body)
    late = [p for p, _ in _longest_match_reference(body[512 * 1024:])][1:]  # first may be cut
    assert len(late) > 12000
    queries = []
    for pattern in late[::50] + late[-1:]:
        queries += [pattern + "index.html", pattern.rstrip("/") + "-not-listed/"]
    disallowed = 0
    for agent in ("GPTBot", "SomeOtherBot"):
        for query in queries:
            expected = _reference_allowed(rules, query)
            assert is_allowed(body, agent, "https://docs.oracle.com" + query) is expected, query
            disallowed += not expected
    assert disallowed >= 2 * (len(late[::50]) + 1)  # every rule's own path is disallowed


@pytest.mark.parametrize("status,allowed", [(200, False), (404, True), (403, True), (503, False),
                                            (None, False)])
def test_fetch_status_outcomes(status, allowed):
    assert allowed_for_status(status, "User-agent: *\nDisallow: /\n", "GPTBot",
                              "https://x/a") is allowed


def test_agent_tokens_with_digits():
    body = "User-agent: AI2Bot\nDisallow: /\n"
    robots = RobotsTxt(body)
    assert robots.allowed("AI2Bot", "https://x/a")  # reference parser: token read as "AI"
    assert not robots.verdict("AI2Bot", "https://x/a", token_digits=True).allowed
