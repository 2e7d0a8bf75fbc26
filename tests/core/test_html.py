"""parse_html: its meta and licence-link query against the plain algorithm it narrows,
and the encoding it reads a page in, chosen as a browser chooses it (WHATWG)."""

from __future__ import annotations

import io
import re

import pytest
from resiliparse.parse.encoding import detect_encoding
from resiliparse.parse.html import HTMLTree

from clearcrawl.core.html import decode_text, meta_charset, parse_html
from clearcrawl.io.documents import document_from_warc
from clearcrawl.io.warc import iter_records
from clearcrawl.io.warcwrite import http_response, warc_record

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


POLISH = "Zażółć gęślą jaźń"  # uchardet reads it as windows-1252 on its own


def _page(encoding: str, meta: str = "", text: str = POLISH) -> bytes:
    return f"<html><head>{meta}</head><body><p>{text}</p></body></html>".encode(encoding)


def test_a_meta_charset_names_the_encoding_when_the_http_header_does_not():
    body = _page("iso-8859-2", '<meta charset="ISO-8859-2">')
    assert detect_encoding(body) == "cp1252"  # what detection alone would read
    assert parse_html(body, None).text == POLISH
    pragma = _page("iso-8859-2", '<meta http-equiv="Content-Type" '
                                 'content="text/html; charset=iso-8859-2">')
    assert parse_html(pragma, None).text == POLISH


def test_the_meta_prescan_follows_whatwg():
    assert meta_charset(b'<!-- <meta charset="koi8-r"> --><meta charset=iso-8859-2>') \
        == "iso8859-2"                                          # comments are skipped
    assert meta_charset(b'<!--><meta charset="iso-8859-2">') == "iso8859-2"  # "<!-->" ends
    assert meta_charset(b'<!-- never closed <meta charset="iso-8859-2">') is None
    assert meta_charset(b"x" * 1024 + b'<meta charset="iso-8859-2">') is None  # 1,024 bytes
    assert meta_charset(b'<meta content="text/html; charset=iso-8859-2">') is None  # no pragma
    assert meta_charset(b'<meta charset="no-such"><meta charset="iso-8859-2">') == "iso8859-2"
    assert meta_charset(b'<meta title="a>b" charset="iso-8859-2">') == "iso8859-2"
    assert meta_charset(b'<meta charset="utf-16le">') == "utf-8"  # UTF-16 there means UTF-8
    assert meta_charset(b'<meta charset="x-user-defined">') == "cp1252"
    assert meta_charset(b'<meta charset="latin1">') == "cp1252"
    assert meta_charset(b"<metadata charset=iso-8859-2>") is None
    assert meta_charset(b"<meta/charset='iso-8859-2'>") == "iso8859-2"
    # A charset attribute wins over the content's, and the first of a name counts.
    assert meta_charset(b'<meta http-equiv=content-type content="text/html; charset=koi8-r" '
                        b'charset="iso-8859-2" charset="koi8-r">') == "iso8859-2"
    assert meta_charset(b'<meta http-equiv=Content-Type content="text/html;charset=\'euc-kr\'">') \
        == "euc_kr"


def test_labels_read_as_whatwg_reads_them_and_the_byte_order_mark_first():
    # iso-8859-1 on the web is windows-1252: curly quotes, not C1 control characters.
    assert decode_text(b"\x93quoted\x94 \x80 5", "iso-8859-1") == "\u201cquoted\u201d \u20ac 5"
    assert decode_text(b"\x93a\x94", "US-ASCII") == "\u201ca\u201d"
    assert decode_text(b"ni\xf1o\x81", "iso-8859-1") == "ni\u00f1o\x81"  # WHATWG's C1 byte
    assert decode_text(b"abc", "\udc80") == "abc"  # a label that is not text
    assert meta_charset(b"x" * 1000 + b"<meta charset=iso-8859-15>") is None  # cut at 1,024
    assert decode_text(b"\xa1\xa4", "gb2312") == "\u00b7"  # gbk's middle dot, as browsers
    # The byte order mark beats the declared charset, and is not part of the text.
    assert decode_text(b"\xef\xbb\xbfcaf\xc3\xa9", "iso-8859-1") == "caf\u00e9"
    assert decode_text("\ufeffhi".encode("utf-16-le"), "utf-8") == "hi"
    # The HTTP charset beats the meta; an unknown HTTP label leaves it to the meta.
    polish_meta = _page("iso-8859-2", '<meta charset="iso-8859-2">')
    assert decode_text(polish_meta, "no-such-label", html=True).endswith(f"{POLISH}</p></body></html>")
    cyrillic = _page("koi8-r", '<meta charset="iso-8859-2">', "Привет")
    assert "Привет" in decode_text(cyrillic, "koi8-r", html=True)
    # Bytes the declared encoding cannot decode still give text.
    assert decode_text(b"caf\xe9", "utf-8") == "caf\u00e9"
    assert decode_text(b"\xff\xfe\x00", "utf-16") != ""


def test_a_warc_response_is_read_in_its_meta_charset():
    body = _page("iso-8859-2", "<meta charset=iso-8859-2>")
    record = warc_record("response", http_response(body, {"Content-Type": "text/html"}),
                         target_uri="https://pl.example/")
    (read,) = iter_records(io.BytesIO(record))
    assert document_from_warc(read, "mem.warc").text == POLISH


def test_a_real_gb2312_page_reads_as_a_browser_shows_it(shared_data):
    path = shared_data / "warc" / "resiliparse-fastwarc" / "warcfile.warc"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with open(path, "rb") as fh:
        texts = [document_from_warc(r, str(path)).text for r in iter_records(fh)
                 if getattr(r, "record_type", None) == "response" and b"charset=gb2312" in r.payload[:2048].lower()]
    assert texts, "the file's gb2312 pages"
    joined = "".join(texts)
    assert "\u00b7" in joined and "\u30fb" not in joined  # GBK's A1A4 is U+00B7 in browsers
