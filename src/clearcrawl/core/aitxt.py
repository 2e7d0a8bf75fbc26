"""Spawning's ai.txt: robots.txt syntax whose `*.ext` rules name file types.

The generator (Spawning's ai_txt_options.json) writes `Disallow: *.html`, `*.htm`,
`*.txt`, ... to refuse a kind of file, whatever its URL. A web page is of the type its
Content-Type says (a text/html page at `/news/2024/story`, `/` or `/index.php?id=3` is
an `.html` file) and of the type its URL's extension says, compared without case
(`/STORY.HTML`). Path rules match the normalised path as in robots.txt; a type rule
also matches when the document is of its type. The longest rule decides, Allow winning
a tie, as in robots.txt (`Disallow: /` + `Allow: *.jpg` admits only images).
"""

from __future__ import annotations

import re

from clearcrawl.core.robots import RobotsTxt, Verdict

# `*.ext`, `/*.ext`, optionally anchored with `$`: a rule about a file type.
_TYPE_RULE = re.compile(r"/?\*\.([A-Za-z0-9]+)\$?")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]+)$")
# Media type -> the file extensions that name it (those the generator lists).
_TYPES_BY_MEDIA = {
    "text/html": ("html", "htm"),
    "application/xhtml+xml": ("html", "htm", "xhtml"),
    "application/xml+html": ("html", "htm"),
    "text/plain": ("txt",),
    "text/markdown": ("md",),
}


def file_types(path: str, content_type: str) -> frozenset[str]:
    """Lower-case extensions the document counts as: its media type's and its URL's."""
    types = set(_TYPES_BY_MEDIA.get(content_type.split(";")[0].strip().lower(), ()))
    segment = path.split("?", 1)[0].split(";", 1)[0].rsplit("/", 1)[-1]
    found = _EXTENSION.search(segment)
    if found:
        types.add(found.group(1).lower())
    return frozenset(types)


def verdict(aitxt: RobotsTxt, agent: str, path: str, types: frozenset[str]) -> Verdict:
    """The deciding rule for a normalised path whose document is of `types`."""
    for literal, matcher, is_allow, line in aitxt.normalized_rules(agent, token_digits=True):
        if literal is not None and path.startswith(literal) or (
                matcher is not None and matcher(path)):
            return Verdict(is_allow, line)
        typed = _TYPE_RULE.fullmatch(line.value)
        if typed and typed.group(1).lower() in types:
            return Verdict(is_allow, line)
    return Verdict(True, None)
