"""HTML to plain text, with the page's meta tags and licence links, in one parse.

resiliparse (Lexbor) does the parsing and extraction: 20-55x faster than
trafilatura here, and robust to broken markup and wrong charsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
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


def decode_text(body: bytes, declared_charset: str | None) -> str:
    """Bytes to str: the declared charset if it decodes, else detection; never raises."""
    if declared_charset:
        try:
            return body.decode(declared_charset)
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
    tree = HTMLTree.parse(decode_text(body, declared_charset))
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
