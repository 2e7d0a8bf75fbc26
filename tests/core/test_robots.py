"""robots.txt: both reference conformance suites, read in place, and the real corpus."""

from __future__ import annotations

import base64
import json

import pytest

from clearcrawl.core.robots import (
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


def test_only_unknown_lines_allow_everything():
    assert is_allowed("Sitemap: /s.xml\nHost: x\nfoo bar baz\n", "GPTBot", "https://x/any")


def test_parse_bound_is_at_least_500_kib():
    filler = "# " + "x" * 1000 + "\n"
    head = "User-agent: *\n" + filler * 515  # the rule starts past 500 KiB
    body = head + "Disallow: /late\n"
    assert 500 * 1024 < len(body.encode()) < MAX_ROBOTS_BYTES
    assert not is_allowed(body, "GPTBot", "https://x/late")
    huge = RobotsTxt(head + filler * 200 + "Disallow: /beyond\n")
    assert huge.truncated and huge.allowed("GPTBot", "https://x/beyond")


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
