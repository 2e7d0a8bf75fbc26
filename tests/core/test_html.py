"""parse_html's meta and licence-link query against the plain algorithm it narrows."""

from __future__ import annotations

import re

from resiliparse.parse.html import HTMLTree

from clearcrawl.core.html import parse_html

_AGENT = re.compile(r"no(?:image)?ai|noarchive", re.IGNORECASE)


def _reference(html: str) -> tuple[tuple, tuple]:
    """Every meta[name] and every [rel] node, iterated and filtered in Python (the
    unnarrowed query as it was)."""
    document = HTMLTree.parse(html).document
    meta, licenses = [], []
    for node in document.query_selector_all("meta[name], [rel]"):
        if node.tag == "meta" and node.hasattr("name"):
            name = (node.getattr("name") or "").strip().lower()
            content = node.getattr("content") or ""
            if name in ("robots", "tdm-reservation", "tdm-policy", "content-usage") \
                    or _AGENT.search(content):
                meta.append((name, content))
        if "license" in (node.getattr("rel") or "").lower().split() and node.getattr("href"):
            licenses.append(node.getattr("href").strip())
    return tuple(meta), tuple(dict.fromkeys(licenses))


def test_licence_links_and_meta_match_the_unnarrowed_query():
    html = (
        '<html><head><META NAME="Robots" content="noai"><meta name="GPTBot" content="NoImageAI">'
        '<meta name="description" content="x"><link REL="LICENSE" href=" /a ">'
        '<link rel="stylesheet" href="x.css"><link rel="foo&#160;license" href="/nbsp">'
        '<link rel="&#108;icense" href="/charref"><link rel="xlicensex" href="/substring">'
        '<link rel="LiCeNsE\tfoo" href="/tab"><link rel="license" href="/a">'
        '<link rel="l\u0130cense" href="/dotted"><link rel="license" href="">'
        + '<link rel="preload" href="/p">' * 40 +
        '</head><body><svg><meta name="robots" content="in svg" rel="zzz"></svg>'
        '<a rel="nofollow license" href="/b">x</a><div rel="license" href="/d"></div>'
        '<meta content="nameless" rel="license" href="/m"></body></html>')
    page = parse_html(html.encode())
    assert (page.meta, page.license_links) == _reference(html)
    assert page.license_links == ("/a", "/nbsp", "/charref", "/tab", "/b", "/d", "/m")
    assert ("robots", "in svg") in page.meta
