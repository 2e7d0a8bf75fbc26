"""Which opt-out carriers an input could show at all, so that "checked and clean" is
never confused with "could not be checked".

A WARC response carries HTTP headers and the HTML with its meta tags; a WET conversion
record, a JSONL line or a Parquet row carries only text, so header and meta signals
(X-Robots-Tag noai, TDM-Reservation, Content-Usage) cannot be seen in documents read
from them. Crawl-time robots.txt can be checked only where capture WARCs were given.
Registry rules, today's robots.txt, site files and content matching need only the URL
or the text, so every input has them.
"""

from __future__ import annotations

from clearcrawl import reasons

HTTP_HEADERS = "http_headers"
HTML_META = "html_meta"
CRAWL_ROBOTS = "robots_captures"
ALL_CARRIERS = (HTTP_HEADERS, HTML_META, CRAWL_ROBOTS)

# The carriers a kind is read from in the document itself (besides registry or site
# files, which every input has): without any of them, the kind is only partly checked.
IN_DOCUMENT = {
    reasons.NOAI: (HTTP_HEADERS, HTML_META),
    reasons.TDMREP: (HTTP_HEADERS, HTML_META),
    reasons.CONTENT_USAGE: (HTTP_HEADERS,),
    reasons.ROBOTS_CRAWL_TIME: (CRAWL_ROBOTS,),
}


def input_carriers(uri: str, robots_captures: bool) -> list[str]:
    """The carriers documents of the input at `uri` can show."""
    lower = uri.lower()
    found = []
    if lower.endswith((".warc", ".warc.gz")):  # responses; .wet holds conversions only
        found += [HTTP_HEADERS, HTML_META]
    if robots_captures:
        found.append(CRAWL_ROBOTS)
    return found


def unchecked_kinds(carriers: list[str]) -> list[str]:
    """Reason kinds whose in-document carriers are all missing for such an input."""
    return [kind for kind, needs in IN_DOCUMENT.items()
            if not any(carrier in carriers for carrier in needs)]
