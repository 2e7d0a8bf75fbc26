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
from clearcrawl.core import tdmrep
from clearcrawl.core.policy import Policy
from clearcrawl.core.robots import CONTENT_SIGNAL, CONTENT_USAGE, RobotsTxt, path_params_query
from clearcrawl.core.robots import pattern_matches as robots_pattern_matches
from clearcrawl.records import Document, Evidence

GLOBAL_AGENT = "*"
_NOAI = {"noai", "noimageai"}
_TRAIN_KEYS = {"train-ai", "train-genai"}
_NO = {"n", "no", "false", "0", "disallow", "disallowed"}
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


def robots_evidence(capture: RobotsCapture, url: str, agents: tuple[str, ...], kind: str,
                    label: str) -> list[Evidence]:
    """Evidence when any counted agent (or `*`) may not fetch the URL."""
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
        verdict = capture.robots.verdict(agent, url, token_digits=True)
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


def robots_content_signals(capture: RobotsCapture, url: str, agents: tuple[str, ...]
                           ) -> list[Evidence]:
    """`Content-Signal: ai-train=no` and `Content-Usage: [path] train-ai=n` in robots.txt."""
    if capture.status is None or not 200 <= capture.status < 300:
        return []
    path = path_params_query(url)
    for agent in agents:
        for line in capture.robots.extension_lines(agent, CONTENT_SIGNAL, token_digits=True):
            prefs = _preferences(line.value)
            if prefs.get("ai-train") in _NO:
                return [Evidence(reasons.CONTENT_USAGE, capture.source_id,
                                 f"robots.txt line {line.number} Content-Signal: {line.value}")]
        best = None  # longest matching path wins; restrictive on a tie
        for line in capture.robots.extension_lines(agent, CONTENT_USAGE, token_digits=True):
            scope, _, rest = line.value.partition(" ")
            if not scope.startswith("/"):
                scope, rest = "/", line.value
            if not robots_pattern_matches(path, scope):
                continue
            denied = any(_preferences(rest).get(k) in _NO for k in _TRAIN_KEYS)
            rank = (len(scope), denied)
            if best is None or rank > best[0]:
                best = (rank, line)
        if best and best[0][1]:
            line = best[1]
            return [Evidence(reasons.CONTENT_USAGE, capture.source_id,
                             f"robots.txt line {line.number} Content-Usage: {line.value}")]
    return []


def _preferences(value: str) -> dict[str, str]:
    prefs = {}
    for part in re.split(r"[,;]", value):
        key, sep, val = part.partition("=")
        if sep:
            prefs[key.strip().lower()] = val.strip().strip('"').lower()
    return prefs


def noai_directives(value: str, agents: AbstractSet[str], noarchive: bool) -> list[str]:
    """The directives of an X-Robots-Tag / robots meta value that opt out of AI use.

    Parts are comma-separated; `agent: directive` counts only for agents in
    `agents` (lower-case), a bare directive for everyone.
    """
    found = []
    counted = _NOAI | ({"noarchive"} if noarchive else set())
    for part in value.split(","):
        scope, sep, directive = part.partition(":")
        if sep:
            if scope.strip().lower() not in agents:
                continue
        else:
            directive = scope
        directive = directive.strip().lower()
        if directive in counted:
            found.append(part.strip())
    return found


def licenses_of(doc: Document, robots_licenses: list[str]) -> str | None:
    """Declared licences (rel=license links, Link headers, robots.txt License:)."""
    found = list(doc.license_links)
    link = doc.header("link")
    if link:
        found += [m.group(1).strip() for m in _LINK_LICENSE.finditer(link)]
    found += robots_licenses
    unique = list(dict.fromkeys(u for u in found if u))
    return " ".join(unique) if unique else None


def evaluate(doc: Document, ctx: SignalContext, crawl_capture: RobotsCapture | None
             ) -> tuple[list[Evidence], str | None]:
    """(evidence for every opt-out signal found, declared licence or None)."""
    evidence: list[Evidence] = []
    agents, agent_set = ctx.agents, ctx.agent_set
    robots_licenses: list[str] = []
    if crawl_capture is not None:
        evidence += robots_evidence(crawl_capture, doc.url, agents, reasons.ROBOTS_CRAWL_TIME,
                                    "robots.txt")
        evidence += robots_content_signals(crawl_capture, doc.url, agents)
        robots_licenses += crawl_capture.robots.licenses
    current = ctx.current_robots(doc.host) if doc.host else None
    if current is not None:
        if ctx.policy.robots_current:
            evidence += robots_evidence(current, doc.url, agents, reasons.ROBOTS_CURRENT,
                                        "current robots.txt")
        evidence += robots_content_signals(current, doc.url, agents)
        robots_licenses += current.robots.licenses
    # TDMRep: site file < header < meta.
    rules = ctx.site_tdmrep(doc.host) if doc.host else None
    site = tdmrep.match_site_file(rules, doc.url) if rules else None
    meta = dict(doc.meta)
    finding = tdmrep.resolve(site, doc.header("tdm-reservation"), doc.header("tdm-policy"),
                             meta.get("tdm-reservation"), meta.get("tdm-policy"))
    if finding is not None and finding.reservation == 1:
        entry = f"tdmrep/{doc.host}.json" if finding.carrier == "tdmrep.json" else finding.carrier
        policy = f" tdm-policy={finding.policy}" if finding.policy else ""
        evidence.append(Evidence(reasons.TDMREP, entry, finding.detail + policy))
    # noai: X-Robots-Tag header and robots meta tags (generic or agent-named).
    noarchive = ctx.policy.noarchive_is_optout
    header = doc.header("x-robots-tag")
    if header:
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
    # IETF AI preferences header.
    usage = doc.header("content-usage")
    if usage and any(_preferences(usage).get(k) in _NO for k in _TRAIN_KEYS):
        evidence.append(Evidence(reasons.CONTENT_USAGE, "http-header",
                                 f"header Content-Usage: {usage}"))
    # ai.txt (Spawning): robots-like rules, per-extension patterns included.
    aitxt = ctx.aitxt(doc.host) if doc.host else None
    if aitxt is not None:
        for agent in agents:
            verdict = aitxt.verdict(agent, doc.url, token_digits=True)
            if not verdict.allowed and verdict.line is not None:
                evidence.append(Evidence(reasons.AI_TXT, f"aitxt/{doc.host}.txt",
                                         f"ai.txt line {verdict.line.number} Disallow: "
                                         f"{verdict.line.value} for {agent}"))
                break
    return evidence, licenses_of(doc, robots_licenses)
