"""Pages that were kept although their rights holder opted out (issues 16 and 17), as one
table: every row is a page of a crawl, with what is known of its site (robots.txt
captured at crawl time, today's robots.txt, tdmrep.json, ai.txt in the registry, URL
rules) and the decision and reason kinds a correct run gives it, with the spec
section that says so.

tests/core/test_false_keeps_signals.py decides each row with the core functions;
tests/e2e/test_false_keeps.py writes the whole table as a WARC crawl and filters it.
Each host carries one row's site files, so rows do not disturb each other; add rows
freely (a new host per row that brings site files).
"""

from __future__ import annotations

from dataclasses import dataclass

from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record

KEEP, REMOVE = "keep", "remove"
ROBOTS_CRAWL, ROBOTS_NOW, TDM, NOAI, AITXT, USAGE, URL = (
    "robots_crawl_time", "robots_current", "tdmrep", "noai", "ai_txt", "content_usage",
    "url_optout")


@dataclass(frozen=True)
class Page:
    url: str
    decision: str
    kinds: tuple[str, ...]  # expected reason kinds, in the ledger's order
    spec: str  # the section that decides the row
    headers: tuple[tuple[str, str], ...] = ()  # HTTP headers, one pair per header line
    head: str = ""  # markup inside <head>
    content_type: str = "text/html; charset=utf-8"
    crawl_robots: tuple[int, str] | None = None  # (status, body) captured at crawl time
    current_robots: str | None = None  # registry robots/<host>.txt
    tdmrep: str | None = None  # registry tdmrep/<host>.json (raw JSON text)
    aitxt: str | None = None  # registry aitxt/<host>.txt
    url_rules: tuple[str, ...] = ()  # registry URL-prefix / host opt-out patterns

    @property
    def host(self) -> str:
        return self.url.split("/")[2].split(":")[0].lower()


HTML = "<html><head>{head}<title>t</title></head><body><p>Page {url}</p></body></html>"


def page_record(page: Page) -> bytes:
    """The page as a gzipped WARC response record, as a crawl holds it."""
    headers = list(page.headers)
    if page.content_type:
        headers.insert(0, ("Content-Type", page.content_type))
    body = HTML.format(head=page.head, url=page.url).encode()
    return gzip_member(warc_record("response", http_response(body, headers),
                                   target_uri=page.url))


def _robots(*lines: str) -> str:
    return "\n".join(lines) + "\n"


FILLER = "# " + "x" * 1000 + "\n"
LATE_RULE = "User-agent: *\n" + FILLER * 600 + "Disallow: /late/\n"  # the rule past 600 KiB
SPAWNING_TEXT = _robots("# Spawning AI", "User-agent: *", "Disallow: *.txt", "Disallow: *.pdf",
                        "Disallow: *.html", "Disallow: *.htm", "Disallow: *.md")

PAGES: tuple[Page, ...] = (
    # --- 17.1: every path match on the normalised URL (RFC 3986 6.2.2) ---
    Page("https://cafe-lower.example/caf%c3%a9/1", REMOVE, (ROBOTS_CRAWL,),
         "RFC 3986 6.2.2.1 (escapes compare case-insensitively); robots.h",
         crawl_robots=(200, _robots("User-agent: GPTBot", "Disallow: /café/"))),
    Page("https://cafe-raw.example/café/1", REMOVE, (ROBOTS_NOW,),
         "RFC 3986 2.1, 2.5 (non-ASCII is UTF-8 percent-encoded); robots.h",
         current_robots=_robots("User-agent: CCBot", "Disallow: /café/")),
    Page("https://cafe-other.example/cafe/1", KEEP, (),
         "RFC 9309 2.2.2 (control: another path)",
         current_robots=_robots("User-agent: CCBot", "Disallow: /café/")),
    Page("https://tilde.example/%7Eprivate/x", REMOVE, (ROBOTS_NOW,),
         "RFC 3986 2.3, 6.2.2.2 (escaped unreserved characters are decoded)",
         current_robots=_robots("User-agent: *", "Disallow: /~private/")),
    Page("https://tilde-rule.example/~private/x", REMOVE, (ROBOTS_NOW,),
         "RFC 3986 6.2.2.2 (the pattern is normalised too)",
         current_robots=_robots("User-agent: *", "Disallow: /%7eprivate/")),
    Page("https://dots.example/free/../premium/x", REMOVE, (ROBOTS_NOW,),
         "RFC 3986 5.2.4 (remove dot segments)",
         current_robots=_robots("User-agent: GPTBot", "Disallow: /premium/")),
    Page("https://usage-cafe.example/caf%C3%A9/x", REMOVE, (USAGE,),
         "aipref-attach s.3.1 (Content-Usage paths use the Allow/Disallow encoding)",
         current_robots=_robots("User-agent: *", "Allow: /", "Content-Usage: /café/ train-ai=n")),
    Page("https://tdm-dir.example/%64irectory-a/x", REMOVE, (TDM,),
         "TDMRep 2024 s.3.2.1 (escaped unreserved characters MUST be decoded)",
         tdmrep='[{"location": "/directory-a/", "tdm-reservation": 1}]'),
    Page("https://aitxt-cafe.example/caf%c3%a9/x", REMOVE, (AITXT,),
         "RFC 3986 6.2.2.1 (ai.txt paths as robots.txt)",
         aitxt=_robots("User-agent: *", "Disallow: /café/")),
    # --- 17.10 / URL-prefix rules: dot segments and ports (RFC 3986 5.2.4, 6.2.3) ---
    Page("https://magazine.example/free/../premium/x", REMOVE, (URL,),
         "RFC 3986 5.2.4 (remove dot segments before a URL-prefix rule)",
         url_rules=("https://magazine.example/premium/",)),
    Page("https://magazine.example/free/%2E%2E/premium/y", REMOVE, (URL,),
         "RFC 3986 2.3 then 5.2.4 (%2E is '.')"),
    Page("https://magazine.example/premium/../free/x", KEEP, (),
         "RFC 3986 5.2.4 (control: the path leaves the prefix)"),
    Page("https://port-rule.example/premium/x", KEEP, (),
         "RFC 3986 6.2.3 (a rule for port 8443 does not cover port 443)",
         url_rules=("https://port-rule.example:8443/premium/",)),
    Page("http://port-rule.example/premium/y", KEEP, (),
         "RFC 3986 6.2.3 (a rule for port 8443 does not cover port 80)"),
    Page("https://port-rule.example:8443/premium/z", REMOVE, (URL,),
         "RFC 3986 6.2.3 (the rule's own port)"),
    Page("https://default-port.example:8443/premium/x", KEEP, (),
         "RFC 3986 6.2.3 (a default-port rule covers the default ports only)",
         url_rules=("https://default-port.example/premium/",)),
    Page("http://default-port.example:80/premium/y", REMOVE, (URL,),
         "RFC 3986 6.2.3 (http's default port; http and https serve one page)"),
    # --- 17.5: repeated headers keep their boundaries, each value decided alone ---
    Page("https://tdm-twice.example/", REMOVE, (TDM,),
         "TDMRep s.3.3 (each header line is a value; RFC 9110 5.3)",
         headers=(("TDM-Reservation", "1"), ("TDM-Reservation", "1"))),
    Page("https://tdm-conflict.example/", REMOVE, (TDM,),
         "TDMRep s.3.3; a 1 among the values reserves (restrictive on conflict)",
         headers=(("TDM-Reservation", "0"), ("TDM-Reservation", "1"))),
    Page("https://tdm-decimal.example/a", REMOVE, (TDM,),
         "TDMRep s.3.1 (a boolean value, 1); RFC 8259 s.6 (1.0 is the number 1)",
         tdmrep='[{"location": "/", "tdm-reservation": 1.0}]'),
    Page("https://tdm-true.example/a", REMOVE, (TDM,),
         "TDMRep s.3.1 (tdm-reservation is a boolean value)",
         tdmrep='[{"location": "/", "tdm-reservation": true}]'),
    Page("https://tdm-two.example/a", KEEP, (),
         "TDMRep s.3.1 (any other value is unset)",
         tdmrep='[{"location": "/", "tdm-reservation": 2}]'),
    Page("https://xrt-two-lines.example/", REMOVE, (NOAI,),
         "Google robots meta: agent prefix scopes up to the next prefix; each header "
         "line alone (RFC 9110 5.3)",
         headers=(("X-Robots-Tag", "otherbot: noindex"), ("X-Robots-Tag", "noai"))),
    # --- 16.3: agent-scoped X-Robots-Tag ---
    Page("https://xrt-scoped.example/", KEEP, (),
         "Google robots meta (X-Robots-Tag: otherbot: noindex, noai scopes both)",
         headers=(("X-Robots-Tag", "otherbot: noindex, noai"),)),
    Page("https://xrt-policy-agent.example/", REMOVE, (NOAI,),
         "Google robots meta (scoped to a policy agent)",
         headers=(("X-Robots-Tag", "otherbot: noindex, GPTBot: noai"),)),
    Page("https://xrt-bare-first.example/", REMOVE, (NOAI,),
         "Google robots meta (a directive before any prefix is for every agent)",
         headers=(("X-Robots-Tag", "noai, otherbot: noindex"),)),
    Page("https://xrt-valued.example/", REMOVE, (NOAI,),
         "Google robots meta (unavailable_after: takes a value, it is no agent)",
         headers=(("X-Robots-Tag", "unavailable_after: 25 Jun 2010 15:00:00 PST, noai"),)),
    # --- Content-Usage header: RFC 9651 dictionary, vocab labels exactly ---
    Page("https://cu-n.example/", REMOVE, (USAGE,), "aipref-vocab s.6.5 (train-ai=n)",
         headers=(("Content-Usage", "train-ai=n"),)),
    Page("https://cu-upper-key.example/", KEEP, (), "aipref-vocab s.6.5 (upper-case key: no parse)",
         headers=(("Content-Usage", "TRAIN-AI=n"),)),
    Page("https://cu-upper-value.example/", KEEP, (), "aipref-vocab s.6.2 (only the Token n)",
         headers=(("Content-Usage", "train-ai=N"),)),
    Page("https://cu-string.example/", KEEP, (), "aipref-vocab s.6.5 (a String is no Token)",
         headers=(("Content-Usage", 'train-ai="n"'),)),
    Page("https://cu-no.example/", KEEP, (), "aipref-vocab s.6.2 (no is not n)",
         headers=(("Content-Usage", "train-ai=no"),)),
    Page("https://cu-spaces.example/", KEEP, (), "RFC 9651 s.4.2.2 (no space around =)",
         headers=(("Content-Usage", "train-ai = n"),)),
    Page("https://cu-param.example/", KEEP, (), "aipref-vocab s.6.4 (parameters ignored)",
         headers=(("Content-Usage", "search=y;train-ai=n"),)),
    Page("https://cu-bots.example/", REMOVE, (USAGE,),
         "aipref-vocab s.4, s.5 (bots: Automated Processing contains AI training)",
         headers=(("Content-Usage", "bots=n"),)),
    Page("https://cu-all.example/", REMOVE, (USAGE,),
         "aipref-vocab s.4, s.5 (all: Automated Processing, earlier label)",
         headers=(("Content-Usage", "all=n"),)),
    Page("https://cu-genai.example/", REMOVE, (USAGE,),
         "aipref-vocab s.4.3 (Generative AI Training)",
         headers=(("Content-Usage", "train-genai=n"),)),
    Page("https://cu-specific.example/", KEEP, (),
         "aipref-vocab s.5.1 (a more specific preference overrides)",
         headers=(("Content-Usage", "all=n, train-ai=y"),)),
    Page("https://cu-search.example/", KEEP, (), "aipref-vocab s.4.4 (search is not training)",
         headers=(("Content-Usage", "search=n"),)),
    Page("https://cu-unknown.example/", KEEP, (), "aipref-vocab s.6.4 (unknown labels ignored)",
         headers=(("Content-Usage", "foo=n"),)),
    Page("https://cu-last.example/", REMOVE, (USAGE,), "aipref-vocab s.6.5 (last value wins)",
         headers=(("Content-Usage", "train-ai=y, train-ai=n"),)),
    Page("https://cu-two-lines.example/", REMOVE, (USAGE,),
         "aipref-vocab s.7.1 (each statement; the restrictive one applies)",
         headers=(("Content-Usage", "search=y"), ("Content-Usage", "train-ai=n"))),
    # --- 17.6: a TAB ends the Content-Usage path ---
    Page("https://cu-tab.example/x/a", REMOVE, (USAGE,),
         "aipref-attach s.3.2 (the path ends at the first SP or HTAB)",
         crawl_robots=(200, _robots("User-agent: *", "Allow: /", "Content-Usage: /x/\ttrain-ai=n"))),
    Page("https://cu-robots-bots.example/x", REMOVE, (USAGE,),
         "aipref-attach s.3 + aipref-vocab s.5 (bots=n in robots.txt)",
         crawl_robots=(200, _robots("User-agent: *", "Allow: /", "Content-Usage: / bots=n"))),
    # --- 17.7: ai.txt file-type rules count the document's type ---
    Page("https://ai-types-1.example/news/2024/story", REMOVE, (AITXT,),
         "Spawning ai.txt generator (Disallow: *.html names text/html)", aitxt=SPAWNING_TEXT),
    Page("https://ai-types-2.example/", REMOVE, (AITXT,),
         "Spawning ai.txt generator (the site root is an HTML file)", aitxt=SPAWNING_TEXT),
    Page("https://ai-types-3.example/index.php?id=3", REMOVE, (AITXT,),
         "Spawning ai.txt generator (type by Content-Type, not by URL)", aitxt=SPAWNING_TEXT),
    Page("https://ai-types-4.example/STORY.HTML", REMOVE, (AITXT,),
         "Spawning ai.txt generator (extensions compare without case)",
         aitxt=_robots("User-agent: *", "Disallow: *.html"),
         content_type="text/plain; charset=utf-8"),
    Page("https://ai-types-5.example/photo", KEEP, (),
         "Spawning ai.txt generator (images only: a page is no image)",
         aitxt=_robots("User-agent: *", "Disallow: *.jpg", "Disallow: *.png")),
    Page("https://ai-types-6.example/a", KEEP, (),
         "RFC 9309 2.2.2 longest match (Allow: *.html outranks Disallow: /)",
         aitxt=_robots("User-agent: *", "Disallow: /", "Allow: *.html")),
    # --- 17.9: training crawlers of ai.robots.txt in the default policy ---
    *(Page(f"https://agent-{token.lower()}.example/a", REMOVE, (ROBOTS_CRAWL,),
           "ai.robots.txt robots.json (a training crawler)",
           crawl_robots=(200, _robots(f"User-agent: {token}", "Disallow: /")))
      for token in ("FacebookBot", "DeepSeekBot", "TikTokSpider", "Timpibot", "Ai2Bot-Dolma",
                    "ICC-Crawler", "Cotoyogi")),
    # --- 16.3: groups are not split by other lines; rules past 512 KiB ---
    Page("https://group-signal.example/a", REMOVE, (ROBOTS_CRAWL,),
         "RFC 9309 2.2.4; robots.cc (only Allow/Disallow end the agent lines)",
         crawl_robots=(200, _robots("User-agent: GPTBot", "Content-Signal: search=yes",
                                    "User-agent: OtherBot", "Disallow: /"))),
    Page("https://group-usage.example/a", REMOVE, (ROBOTS_NOW,),
         "RFC 9309 2.2.4 (a Content-Usage line between agents)",
         current_robots=_robots("User-agent: CCBot", "Content-Usage: / train-ai=y",
                                "User-agent: OtherBot", "Disallow: /")),
    Page("https://late-rule.example/late/x", REMOVE, (ROBOTS_CRAWL,),
         "RFC 9309 2.5 (500 KiB is a floor); robots.cc reads the whole body",
         crawl_robots=(200, LATE_RULE)),
)
