"""Opt-out signals other than robots.txt rules: real cases from shared/data plus spec rules."""

from __future__ import annotations

import json
from collections import defaultdict

from clearcrawl import reasons
from clearcrawl.core import tdmrep
from clearcrawl.core.html import parse_html
from clearcrawl.core.policy import Policy
from clearcrawl.core.robots import RobotsTxt
from clearcrawl.core.signals import (
    RobotsCapture,
    SignalContext,
    evaluate,
    noai_directives,
)
from clearcrawl.io.documents import make_document
from clearcrawl.io.http import parse_response


def _ctx(policy=None, robots=None, site=None, aitxt=None):
    return SignalContext(
        policy=policy or Policy(),
        current_robots=lambda host: (RobotsCapture(f"robots/{host}.txt", 200, RobotsTxt(robots))
                                     if robots is not None else None),
        site_tdmrep=lambda host: site,
        aitxt=lambda host: RobotsTxt(aitxt) if aitxt is not None else None,
    )


def _doc(url="https://site.example/a/page", headers=(), html=None):
    meta, links = (), ()
    if html is not None:
        page = parse_html(html.encode())
        meta, links = page.meta, page.license_links
    return make_document(url=url, text="t", source_uri="mem", offset=0, headers=headers,
                         meta=meta, license_links=links)


def _kinds(doc, ctx, capture=None):
    evidence, _ = evaluate(doc, ctx, capture)
    return [e.kind for e in evidence]


def test_datadiligence_x_robots_tag_cases(shared_data):
    data = json.loads((shared_data / "ai-optout-headers" / "spawning-datadiligence" /
                       "header_cases.json").read_text())
    by_input = defaultdict(set)
    for case in data["cases"]:
        by_input[(case["header"], case["header_value"], case["evaluating_user_agent"])].add(
            case["expected_allowed"])
    checked = 0
    for (header, value, agent), expected in by_input.items():
        if len(expected) != 1:
            continue  # noindex cases that depend on datadiligence's respect_noindex switch
        allowed = expected.pop()
        if header == "X-Robots-Tag":
            agents = {agent.lower()} if agent else set()
            ours = not noai_directives(value or "", agents, noarchive=False)
        else:
            ours = tdmrep.reservation_value(value) != 1
        assert ours == allowed, (header, value, agent)
        checked += 1
    assert checked >= 40


def test_tdmrep_spec_examples(shared_data):
    examples = shared_data / "tdmrep" / "examples"
    site = json.loads((examples / "01-sec-tdm-file-example.json").read_text())
    finding = tdmrep.match_site_file(site, "/any/path")
    assert finding.reservation == 1 and finding.carrier == "tdmrep.json"
    second = json.loads((examples / "02-sec-tdm-file-example.json").read_text())
    assert isinstance(second, list) and all("location" in rule for rule in second)
    for name in ("03-sec-tdm-header.http", "04-sec-tdm-header.http"):
        response = parse_response((examples / name).read_bytes().replace(b"\r\n", b"\n")
                                  .replace(b"\n", b"\r\n"))
        doc = _doc(headers=response.headers)
        evidence, _ = evaluate(doc, _ctx(), None)
        raw = doc.header_values("tdm-reservation")[0]
        expected = [reasons.TDMREP] if tdmrep.reservation_value(raw) == 1 else []
        assert [e.kind for e in evidence] == expected, name
    html = (examples / "05-sec-tdm-html-meta.html").read_text()
    evidence, _ = evaluate(_doc(html=html), _ctx(), None)
    assert [(e.kind, e.entry_id) for e in evidence] == [(reasons.TDMREP, "html-meta")]
    assert "tdm-policy=https://provider.com/policies/policy.json" in evidence[0].detail


def test_tdmrep_first_match_and_precedence():
    rules = [{"location": "/open/*", "tdm-reservation": 0},
             {"location": "/*", "tdm-reservation": 1}]
    assert tdmrep.match_site_file(rules, "/open/x").reservation == 0
    assert tdmrep.match_site_file(rules, "/closed").reservation == 1
    # a later carrier overrides; unset or malformed values never reset
    reserved_site = tdmrep.match_site_file(rules, "/closed")
    assert tdmrep.resolve(reserved_site, ["0"], None, [], None).reservation == 0
    assert tdmrep.resolve(reserved_site, ["yes"], None, ["2"], None).reservation == 1
    assert tdmrep.resolve(None, ["1"], None, ["0"], None).reservation == 0
    assert tdmrep.resolve(None, [], None, [""], None) is None
    ctx = _ctx(site=rules)
    assert _kinds(_doc("https://s.example/open/x"), ctx) == []
    assert _kinds(_doc("https://s.example/closed"), ctx) == [reasons.TDMREP]
    assert _kinds(_doc("https://s.example/closed", headers=[("tdm-reservation", "0")]), ctx) == []


def test_noai_meta_and_agent_scoping():
    assert _kinds(_doc(html='<meta name="robots" content="NoAI, noimageai">'), _ctx()) == [
        reasons.NOAI]
    assert _kinds(_doc(html='<meta name="GPTBot" content="noai">'), _ctx()) == [reasons.NOAI]
    assert _kinds(_doc(html='<meta name="Googlebot" content="noai">'), _ctx()) == []
    assert _kinds(_doc(headers=[("x-robots-tag", "googlebot: noai, noindex")]), _ctx()) == []
    assert _kinds(_doc(headers=[("x-robots-tag", "ccbot: noai")]), _ctx()) == [reasons.NOAI]
    noarchive = _doc(headers=[("x-robots-tag", "noarchive")])
    assert _kinds(noarchive, _ctx()) == []
    assert _kinds(noarchive, _ctx(Policy(noarchive_is_optout=True))) == [reasons.NOAI]


def test_ietf_content_usage_and_cloudflare_content_signal():
    assert _kinds(_doc(headers=[("content-usage", "train-ai=n")]), _ctx()) == [
        reasons.CONTENT_USAGE]
    assert _kinds(_doc(headers=[("content-usage", "train-ai=y")]), _ctx()) == []
    signal = "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n"
    assert _kinds(_doc(), _ctx(robots=signal)) == [reasons.CONTENT_USAGE]
    usage = ("User-agent: *\nContent-Usage: train-ai=y\nContent-Usage: /a/ train-ai=n\n"
             "Allow: /\n")
    assert _kinds(_doc("https://site.example/a/page"), _ctx(robots=usage)) == [
        reasons.CONTENT_USAGE]
    assert _kinds(_doc("https://site.example/b/page"), _ctx(robots=usage)) == []


def test_ai_txt_real_spawning_file_and_extensions(shared_data):
    folder = shared_data / "ai-optout-headers" / "spawning-ai-txt"
    block_all = (folder / "ai.txt.ai-robots-txt-2024-04").read_text()
    assert _kinds(_doc(), _ctx(aitxt=block_all)) == [reasons.AI_TXT]
    options = json.loads((folder / "ai_txt_options.json").read_text())["options"]
    text_exts = next(o["value"] for o in options if o["label"] == "Text")
    generated = "User-agent: *\n" + "".join(f"Disallow: {e.strip()}\n"
                                            for e in text_exts.split(","))
    assert _kinds(_doc("https://site.example/paper.pdf"), _ctx(aitxt=generated)) == [
        reasons.AI_TXT]
    # A text page is of a text type wherever it lives (file-type rules: issue 17 item 7);
    # an image-only ai.txt leaves it alone.
    assert _kinds(_doc("https://site.example/gallery/"), _ctx(aitxt=generated)) == [
        reasons.AI_TXT]
    image_exts = next(o["value"] for o in options if o["label"] == "Images")
    images = "User-agent: *\n" + "".join(f"Disallow: {e.strip()}\n"
                                         for e in image_exts.split(","))
    assert _kinds(_doc("https://site.example/gallery/"), _ctx(aitxt=images)) == []
    assert _kinds(_doc("https://site.example/gallery/a.JPG"), _ctx(aitxt=images)) == [
        reasons.AI_TXT]


def test_robots_policies_and_evidence_detail():
    robots = "User-agent: GPTBot\nDisallow: /a/\n\nUser-agent: Googlebot\nDisallow: /\n"
    evidence, _ = evaluate(_doc(), _ctx(robots=robots), None)
    assert [(e.kind, e.entry_id) for e in evidence] == [(reasons.ROBOTS_CURRENT,
                                                         "robots/site.example.txt")]
    assert "line 2 Disallow: /a/ for GPTBot" in evidence[0].detail
    assert _kinds(_doc("https://site.example/b/"), _ctx(robots=robots)) == []  # Googlebot only
    assert _kinds(_doc(), _ctx(Policy(robots_current=False), robots=robots)) == []
    capture = RobotsCapture("cc.warc@12", 200, RobotsTxt("User-agent: *\nDisallow: /\n"),
                            "2024-05-01T00:00:00Z")
    evidence, _ = evaluate(_doc(), _ctx(), capture)
    assert evidence[0].kind == reasons.ROBOTS_CRAWL_TIME and evidence[0].entry_id == "cc.warc@12"
    assert "captured 2024-05-01" in evidence[0].detail
    failed = RobotsCapture("cc.warc@99", 503, RobotsTxt(""), "2024-05-01T00:00:00Z")
    assert _kinds(_doc(), _ctx(), failed) == [reasons.ROBOTS_CRAWL_TIME]
    missing = RobotsCapture("cc.warc@98", 404, RobotsTxt("User-agent: *\nDisallow: /"), "")
    assert _kinds(_doc(), _ctx(), missing) == []


def test_licences_are_recorded_not_removal_reasons():
    html = '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">'
    doc = _doc(html=html, headers=[("link", '<https://x.example/l>; rel="license"')])
    capture = RobotsCapture("c", 200, RobotsTxt("License: https://x.example/rsl.xml\n"), "")
    evidence, license_ = evaluate(doc, _ctx(), capture)
    assert evidence == []
    assert license_.split() == ["https://creativecommons.org/licenses/by/4.0/",
                                "https://x.example/l", "https://x.example/rsl.xml"]
