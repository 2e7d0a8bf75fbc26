"""HTML to plain text, with the page's meta tags and licence links, in one parse.

resiliparse (Lexbor) does the parsing and extraction: 20-55x faster than
trafilatura here, and robust to broken markup and wrong charsets.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

# Meta names read for opt-out signals (robots, per-agent robots, TDMRep, ...).
_META_NAMES = ("robots", "tdm-reservation", "tdm-policy", "content-usage")
_AGENT_DIRECTIVES = re.compile(r"no(?:image)?ai|noarchive", re.IGNORECASE)
# Meta tags with a name, and elements whose rel can name a licence. No character but
# ASCII letters lower-cases to a letter of "license" next to the others, so `*= i`
# finds every rel that the word test below accepts.
_SIGNAL_NODES = "meta[name], [rel*=license i]"


@dataclass(frozen=True, slots=True)
class Page:
    text: str
    # (lower-cased meta name, content) for meta tags that can carry signals.
    meta: tuple[tuple[str, str], ...] = ()
    license_links: tuple[str, ...] = ()


# WHATWG's encoding sniffing (HTML standard, "determining the character encoding"):
# a byte order mark first, then the transport's charset, then a <meta> charset found by
# prescanning the first 1,024 bytes.
_BYTE_ORDER_MARKS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xfe\xff", "utf-16-be"),
                     (b"\xff\xfe", "utf-16-le"))
_PRESCAN_BYTES = 1024
# A meta tag's attributes end at the first ">" outside a quoted value.
_META_TAG = re.compile(rb"""<meta[\t\n\f\r /]((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    rb"""([^\t\n\f\r />=][^\t\n\f\r /=>]*)[\t\n\f\r ]*"""
    rb"""(?:=[\t\n\f\r ]*("[^"]*"|'[^']*'|[^\t\n\f\r >]*))?""")
# "The algorithm for extracting a character encoding from a meta element".
_CONTENT_CHARSET = re.compile(
    rb"""charset[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r ;"'][^\t\n\f\r ;]*))""",
    re.IGNORECASE)


@functools.lru_cache(maxsize=1024)  # a few labels cover most records
def encoding_of_label(label: str | None) -> str | None:
    """The Python codec for a charset label as WHATWG's encoding standard reads it
    (iso-8859-1 and us-ascii are windows-1252, gb2312 is gbk); None if no encoding has
    that label."""
    label = (label or "").strip()
    if not label:
        return None
    try:
        return map_encoding_to_html5(label, fallback_utf8=False)
    except UnicodeError:  # a label that is not text
        return None


def _c1_controls(error: UnicodeDecodeError):
    """WHATWG's windows-1252 reads the five bytes Python's cp1252 leaves undefined
    (0x81, 0x8D, 0x8F, 0x90, 0x9D) as the C1 control of the same number."""
    undefined = error.object[error.start:error.end]
    if any(b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) for b in undefined):
        raise error
    return undefined.decode("latin-1"), error.end


codecs.register_error("clearcrawl-whatwg-c1", _c1_controls)


def meta_charset(body: bytes) -> str | None:
    """The encoding a <meta> in the first 1,024 bytes declares, by the rules of WHATWG's
    prescan: comments skipped; a charset attribute, or else the charset in the content
    of a meta whose http-equiv is content-type; the first meta whose label names an
    encoding wins; UTF-16 there means UTF-8, x-user-defined windows-1252. None if none."""
    head = _without_comments(body[:_PRESCAN_BYTES])
    for tag in _META_TAG.finditer(head):
        attributes: dict[bytes, bytes] = {}
        for name, value in _ATTRIBUTE.findall(tag.group(1)):
            if value[:1] in (b'"', b"'"):
                value = value[1:-1]
            attributes.setdefault(name.lower(), value)  # the first of a name counts
        if b"charset" in attributes:
            label = attributes[b"charset"]
        elif attributes.get(b"http-equiv", b"").lower() == b"content-type":
            found = _CONTENT_CHARSET.search(attributes.get(b"content", b""))
            label = found and next(part for part in found.groups() if part is not None)
        else:
            continue
        name = label.decode("latin-1").strip().lower() if label else ""
        if name == "x-user-defined":  # a meta's only: over HTTP it is its own decoder
            return "cp1252"
        encoding = encoding_of_label(name)
        if encoding is not None:
            return "utf-8" if encoding.startswith("utf-16") else encoding
    return None


def _without_comments(head: bytes) -> bytes:
    """The bytes outside comments, as the prescan skips them: a comment ends at the
    first "-->" from its "<!" on (so "<!-->" is a whole one), and one never closed
    hides everything after it."""
    kept, position = [], 0
    while (start := head.find(b"<!--", position)) != -1:
        kept.append(head[position:start])
        end = head.find(b"-->", start + 2)
        if end == -1:
            return b"".join(kept)
        position = end + 3
    kept.append(head[position:])
    return b"".join(kept)


def decode_text(body: bytes, declared_charset: str | None, html: bool = False) -> str:
    """Bytes to str, never raising. The encoding is chosen as a browser chooses it: a
    byte order mark (removed), else the declared charset, else (`html`) a <meta>
    charset, each label read as WHATWG reads it. Bytes that the chosen encoding cannot
    decode, or that declare none, are read as UTF-8 if they are UTF-8, else in the
    encoding detected."""
    encoding = None
    for mark, marked in _BYTE_ORDER_MARKS:
        if body.startswith(mark):
            body, encoding = body[len(mark):], marked
            break
    else:
        encoding = encoding_of_label(declared_charset) or (meta_charset(body) if html else None)
    if encoding:
        try:
            return body.decode(encoding, "clearcrawl-whatwg-c1" if encoding == "cp1252"
                               else "strict")
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return bytes_to_str(body, detect_encoding(body))


def charset_of(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def parse_html(body: bytes, declared_charset: str | None = None) -> Page:
    tree = HTMLTree.parse(decode_text(body, declared_charset, html=True))
    text = extract_plain_text(tree, preserve_formatting=True, main_content=False,
                              alt_texts=False, links=False, form_fields=False, noscript=False)
    meta: list[tuple[str, str]] = []
    licenses: list[str] = []
    document = tree.document
    if document is not None:
        # One traversal for both (a selector list). Only rel values holding "license"
        # (ASCII case-insensitive, a superset of the word test below) are fetched:
        # every node returned costs a Python object. values() builds the nodes once;
        # iterating the list builds all of them again for each item.
        for node in document.query_selector_all(_SIGNAL_NODES).values():
            if node.tag == "meta" and node.hasattr("name"):
                name = (node.getattr("name") or "").strip().lower()
                content = node.getattr("content") or ""
                # Agent-named robots meta (<meta name="GPTBot" content="noai">) is
                # kept when it says something about AI use or archiving.
                if name in _META_NAMES or _AGENT_DIRECTIVES.search(content):
                    meta.append((name, content))
            rels = (node.getattr("rel") or "").lower().split()
            if "license" in rels and node.getattr("href"):
                licenses.append(node.getattr("href").strip())
    return Page(text.strip(), tuple(meta), tuple(dict.fromkeys(licenses)))
