"""Every machine-readable opt-out signal of a document, as evidence.

Input: a Document and a SignalContext (policy, today's robots/TDMRep/ai.txt files
for the host, and the robots.txt captured at crawl time). Output: the Evidence
list (removal reasons) and the licence declarations found (provenance only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cached_property

from clearcrawl import reasons
from clearcrawl.core import aipref, aitxt, tdmrep
from clearcrawl.core.policy import Policy
from clearcrawl.core.robots import CONTENT_SIGNAL, CONTENT_USAGE, RobotsTxt, path_params_query
from clearcrawl.core.robots import pattern_matches as robots_pattern_matches
from clearcrawl.core.urls import normalize_path
from clearcrawl.records import Document, Evidence

GLOBAL_AGENT = "*"
_NOAI = {"noai", "noimageai"}
_NO = {"n", "no", "false", "0", "disallow", "disallowed"}  # Content-Signal values
# X-Robots-Tag: a product token before a colon is an agent prefix, unless it is one of
# the directives that take a value after a colon.
_AGENT_PREFIX = re.compile(r"[a-z0-9_.-]+")
_VALUED_DIRECTIVES = {"unavailable_after", "max-snippet", "max-image-preview",
                      "max-video-preview"}
_LINK_LICENSE = re.compile(r"<([^>]*)>\s*;[^,]*\brel\s*=\s*\"?[^\",;]*\blicense\b", re.I)


@dataclass(frozen=True)
class RobotsCapture:
    """A robots.txt as fetched at crawl time, or as held in the registry today."""

    source_id: str  # entry_id for evidence: capture record or registry file
    status: int | None  # HTTP status of the fetch (None: unreachable)
    robots: RobotsTxt
    date: str = ""
    note: str = ""  # said in the evidence: a redirect followed, a capture after the page


@dataclass
class SignalContext:
    policy: Policy
    current_robots: Callable[[str], RobotsCapture | None]  # host -> today's robots.txt
    site_tdmrep: Callable[[str], list | None]  # host -> tdmrep.json rules
    aitxt: Callable[[str], RobotsTxt | None]  # host -> ai.txt

    # Computed once: they are asked for every document.
    @cached_property
    def agents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.policy.robots_agents, GLOBAL_AGENT)))

    @cached_property
    def agent_set(self) -> frozenset[str]:
        return frozenset(a.lower() for a in self.agents)


def robots_evidence(capture: RobotsCapture, path: str, agents: tuple[str, ...], kind: str,
                    label: str) -> list[Evidence]:
    """Evidence when any counted agent (or `*`) may not fetch the (normalised) path."""
    status = capture.status
    note = f" ({capture.note})" if capture.note else ""
    if status is None or status >= 500:
        return [Evidence(kind, capture.source_id,
                         f"{label} fetch {'unreachable' if status is None else status}{note}: "
                         "complete disallow (RFC 9309 2.3.1.4)")]
    if not 200 <= status < 300:
        return []  # 4xx (and unfollowed 3xx): no restriction
    blocked: dict[tuple[int, str], list[str]] = {}
    for agent in agents:
        verdict = capture.robots.normalized_verdict(agent, path, token_digits=True)
        if not verdict.allowed and verdict.line is not None:
            key = (verdict.line.number, verdict.line.value)
            blocked.setdefault(key, []).append(agent)
    out = []
    for (number, pattern), who in sorted(blocked.items()):
        date = f" captured {capture.date}" if capture.date else ""
        out.append(Evidence(kind, capture.source_id,
                            f"{label}{date}{note} line {number} Disallow: {pattern} for "
                            f"{', '.join(who)}"))
    return out[:1]  # one piece of evidence per robots.txt: the first deciding line


def robots_content_signals(capture: RobotsCapture, path: str, agents: tuple[str, ...]
                           ) -> list[Evidence]:
    """`Content-Signal: ai-train=no` and `Content-Usage: <path> <preferences>` in robots.txt.

    Content-Usage (aipref-attach s.3): the longest matching path wins, compared on the
    normalised path like Allow/Disallow; preferences of equally long paths combine, so
    a denial among them wins (vocab s.7.1).
    """
    if capture.status is None or not 200 <= capture.status < 300 or (
            not capture.robots.has_extension_lines):
        return []
    for agent in agents:
        for line in capture.robots.extension_lines(agent, CONTENT_SIGNAL, token_digits=True):
            if _content_signal(line.value).get("ai-train") in _NO:
                return [Evidence(reasons.CONTENT_USAGE, capture.source_id,
                                 f"robots.txt line {line.number} Content-Signal: {line.value}")]
        best = None
        for line in capture.robots.extension_lines(agent, CONTENT_USAGE, token_digits=True):
            scope, expression = aipref.robots_rule(line.value)
            scope = normalize_path(scope, dot_segments=False)
            if not robots_pattern_matches(path, scope):
                continue
            rank = (len(scope), aipref.denies_training(aipref.preferences(expression)))
            if best is None or rank > best[0]:
                best = (rank, line)
        if best and best[0][1]:
            line = best[1]
            return [Evidence(reasons.CONTENT_USAGE, capture.source_id,
                             f"robots.txt line {line.number} Content-Usage: {line.value}")]
    return []


def _content_signal(value: str) -> dict[str, str]:
    """Cloudflare's `Content-Signal: search=yes, ai-train=no` (its own, looser syntax)."""
    prefs = {}
    for part in re.split(r"[,;]", value):
        key, sep, val = part.partition("=")
        if sep:
            prefs[key.strip().lower()] = val.strip().strip('"').lower()
    return prefs


def noai_directives(value: str, agents: AbstractSet[str], noarchive: bool) -> list[str]:
    """The directives of an X-Robots-Tag / robots meta value that opt out of AI use.

    Parts are comma-separated. An agent prefix (`otherbot: noindex, noai`) scopes every
    directive after it, up to the next prefix, to that agent (Google's documented
    syntax), and then they count only for agents in `agents` (lower-case); directives
    before any prefix count for everyone. Valued directives (`max-snippet: 20`,
    `unavailable_after: ...`) are not prefixes.
    """
    found = []
    counted = _NOAI | ({"noarchive"} if noarchive else set())
    scope = None
    for part in value.split(","):
        head, sep, rest = part.partition(":")
        name = head.strip().lower()
        if sep and name not in _VALUED_DIRECTIVES and _AGENT_PREFIX.fullmatch(name):
            scope, directive = name, rest
        else:
            directive = part
        directive = directive.strip().lower()
        if directive in counted and (scope is None or scope in agents):
            found.append(f"{scope}: {directive}" if scope else directive)
    return found


def licenses_of(doc: Document, robots_licenses: list[str]) -> str | None:
    """Declared licences (rel=license links, Link headers, robots.txt License:)."""
    found = list(doc.license_links)
    for link in doc.header_values("link"):
        found += [m.group(1).strip() for m in _LINK_LICENSE.finditer(link)]
    found += robots_licenses
    unique = list(dict.fromkeys(u for u in found if u))
    return " ".join(unique) if unique else None


def current_robots_evidence(current: RobotsCapture, path: str, ctx: SignalContext
                            ) -> list[Evidence]:
    """Today's robots.txt of a document's origin (store or registry file): every line
    of it counts only when the policy applies today's robots.txt."""
    if not ctx.policy.robots_current:
        return []
    return (robots_evidence(current, path, ctx.agents, reasons.ROBOTS_CURRENT,
                            "current robots.txt")
            + robots_content_signals(current, path, ctx.agents))


def evaluate(doc: Document, ctx: SignalContext, crawl_capture: RobotsCapture | None,
             store_capture: RobotsCapture | None = None) -> tuple[list[Evidence], str | None]:
    """(evidence for every opt-out signal found, declared licence or None).
    `store_capture`: today's robots.txt of the document's origin from a robots store."""
    evidence: list[Evidence] = []
    agents, agent_set = ctx.agents, ctx.agent_set
    # Normalised once; every path match below (robots.txt, Content-Usage, TDMRep,
    # ai.txt) compares it with patterns normalised the same way.
    path = normalize_path(path_params_query(doc.url))
    robots_licenses: list[str] = []
    if crawl_capture is not None:
        evidence += robots_evidence(crawl_capture, path, agents, reasons.ROBOTS_CRAWL_TIME,
                                    "robots.txt")
        evidence += robots_content_signals(crawl_capture, path, agents)
        robots_licenses += crawl_capture.robots.licenses
    # Today's robots.txt: from the robots store (joined by origin) and from the
    # registry's robots/<host>.txt, read alike.
    for current in (store_capture, ctx.current_robots(doc.host) if doc.host else None):
        if current is not None:
            evidence += current_robots_evidence(current, path, ctx)
            robots_licenses += current.robots.licenses
    # The headers read below, in one pass (most documents send none of them).
    headers = _signal_headers(doc.headers)
    # TDMRep: site file < header < meta.
    rules = ctx.site_tdmrep(doc.host) if doc.host else None
    site = tdmrep.match_site_file(rules, path) if rules else None
    meta_values = [content for name, content in doc.meta if name == "tdm-reservation"]
    reservations = headers.get("tdm-reservation", ())
    if site is None and not reservations and not meta_values:
        finding = None  # what resolve() gives with no carrier at all
    else:
        meta_policy = next((c for name, c in doc.meta if name == "tdm-policy"), None)
        finding = tdmrep.resolve(site, reservations,
                                 next(iter(headers.get("tdm-policy", ())), None),
                                 meta_values, meta_policy)
    if finding is not None and finding.reservation == 1:
        entry = f"tdmrep/{doc.host}.json" if finding.carrier == "tdmrep.json" else finding.carrier
        policy = f" tdm-policy={finding.policy}" if finding.policy else ""
        evidence.append(Evidence(reasons.TDMREP, entry, finding.detail + policy))
    # noai: X-Robots-Tag headers (each on its own) and robots meta tags.
    noarchive = ctx.policy.noarchive_is_optout
    for header in headers.get("x-robots-tag", ()):
        hits = noai_directives(header, agent_set, noarchive)
        if hits:
            evidence.append(Evidence(reasons.NOAI, "http-header",
                                     f"header X-Robots-Tag: {', '.join(hits)}"))
    for name, content in doc.meta:
        if name == "robots" or name in agent_set:
            hits = noai_directives(content, agent_set, noarchive)
            if hits:
                evidence.append(Evidence(reasons.NOAI, "html-meta",
                                         f"meta {name}={', '.join(hits)}"))
    # IETF AI preferences header: each field line is a statement of its own.
    for usage in headers.get("content-usage", ()):
        if aipref.denies_training(aipref.preferences(usage)):
            evidence.append(Evidence(reasons.CONTENT_USAGE, "http-header",
                                     f"header Content-Usage: {usage}"))
    # ai.txt (Spawning): robots-like rules, file-type rules counted against the document.
    aitxt_file = ctx.aitxt(doc.host) if doc.host else None
    if aitxt_file is not None:
        types = aitxt.file_types(path, doc.content_type)
        for agent in agents:
            verdict = aitxt.verdict(aitxt_file, agent, path, types)
            if not verdict.allowed and verdict.line is not None:
                evidence.append(Evidence(reasons.AI_TXT, f"aitxt/{doc.host}.txt",
                                         f"ai.txt line {verdict.line.number} Disallow: "
                                         f"{verdict.line.value} for {agent}"))
                break
    if not doc.license_links and not robots_licenses and "link" not in headers:
        return evidence, None  # what licenses_of() gives with nothing declared
    return evidence, licenses_of(doc, robots_licenses)


_SIGNAL_HEADERS = frozenset({"tdm-reservation", "tdm-policy", "x-robots-tag", "content-usage",
                             "link"})


def _signal_headers(headers: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """{name: values in order} of the headers `evaluate` reads (`Document.header_values`
    for each, in one pass)."""
    found: dict[str, list[str]] = {}
    for key, value in headers:
        if key in _SIGNAL_HEADERS:
            found.setdefault(key, []).append(value)
    return found
