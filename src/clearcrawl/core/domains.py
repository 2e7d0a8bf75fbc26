"""Domain and URL-prefix rules of the registry, and a fast index to match them.

A host rule `example.com` covers the host and every subdomain (`a.b.example.com`)
but not `notexample.com`; a URL-prefix rule `https://example.com/news/` covers
only URLs of that host under that path. Matching walks the ancestors of the
document's host in a dict, so it costs a few lookups whatever the rule count.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from clearcrawl import reasons
from clearcrawl.core.urls import (
    host_ancestors,
    is_public_suffix,
    non_default_port,
    normalize_host,
    normalize_path,
    split_url,
)
from clearcrawl.records import Evidence

RULE_KINDS = ("optout", "piracy")
_HOST_CACHE_SIZE = 1 << 16  # hosts whose host-rule evidence is kept (then started afresh)
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class DomainRule:
    entry_id: str
    kind: str  # "optout" | "piracy"
    pattern: str  # normalised: a host, or "host/path-prefix" for URL rules
    rights_holder: str = ""
    source: str = ""

    @property
    def is_url_prefix(self) -> bool:
        return "/" in self.pattern

    @property
    def reason_kind(self) -> str:
        if self.kind == "piracy":
            return reasons.PIRACY_DOMAIN
        return reasons.URL_OPTOUT if self.is_url_prefix else reasons.DOMAIN_OPTOUT


def host_syntax_error(host: str) -> str | None:
    """Why `host` (already normalised) is not a valid rule host, or None."""
    if not host:
        return "empty host"
    if len(host) > 253:
        return "host longer than 253 characters"
    labels = host.split(".")
    for label in labels:
        if not _LABEL.match(label):
            return f"invalid host label {label!r} in {host!r}"
    if len(labels) < 2 and not host.isdigit():
        return f"host {host!r} has a single label; name a domain such as example.com"
    return None


def normalize_pattern(pattern: str) -> tuple[str | None, str | None]:
    """(normalised pattern, error). Hosts are normalised; URL prefixes become
    `host[:port]` + normalised path (`urls.normalize_path`: escapes, dot segments). The
    scheme and a default port are dropped, since the same page is served over http and
    https; a non-default port is kept, and then the rule covers that port only."""
    pattern = pattern.strip()
    if "://" in pattern:
        parts = split_url(pattern)
        if parts.scheme not in ("http", "https"):
            return None, f"URL prefix {pattern!r} must start with http:// or https://"
        error = host_syntax_error(parts.host)
        if error:
            return None, error
        port = non_default_port(parts)
        return (parts.host + (f":{port}" if port else "") + normalize_path(parts.path),
                None)
    if "/" in pattern:
        return None, f"{pattern!r}: a URL prefix needs its scheme (https://...)"
    host = normalize_host(pattern)
    error = host_syntax_error(host)
    if not error and is_public_suffix(host):
        error = (f"{host!r} is a public suffix (Public Suffix List): a rule on it would "
                 "remove every site registered under it; name the site's own domain")
    return (None, error) if error else (host, None)


class DomainRuleIndex:
    """Host rules keyed by host, URL-prefix rules keyed by their host."""

    def __init__(self, rules: list[DomainRule]):
        self._by_host: dict[str, list[DomainRule]] = defaultdict(list)
        # host -> (port, or None for the scheme's default; path prefix; rule)
        self._prefixes: dict[str, list[tuple[int | None, str, DomainRule]]] = defaultdict(list)
        for rule in rules:
            if rule.is_url_prefix:
                host_port, _, path = rule.pattern.partition("/")
                host, _, port = host_port.partition(":")
                self._prefixes[host].append((int(port) if port else None, "/" + path, rule))
            else:
                self._by_host[rule.pattern].append(rule)
        self._by_host = dict(self._by_host)
        self._prefixes = dict(self._prefixes)
        self.rule_count = len(rules)
        # host -> evidence of the host rules: a crawl has many pages per host.
        self._host_evidence: dict[str, tuple[Evidence, ...]] = {}

    def __getstate__(self):
        return {**self.__dict__, "_host_evidence": {}}

    def _host_rules(self, host: str) -> tuple[Evidence, ...]:
        found = self._host_evidence.get(host)
        if found is None:
            by_host = self._by_host
            found = tuple(Evidence(rule.reason_kind, rule.entry_id,
                                   f"host {host} under rule {rule.pattern}")
                          for ancestor in host_ancestors(host)
                          for rule in by_host.get(ancestor, ()))
            if len(self._host_evidence) >= _HOST_CACHE_SIZE:
                self._host_evidence.clear()
            self._host_evidence[host] = found
        return found

    def match(self, url: str, host: str | None = None) -> list[Evidence]:
        """Evidence for every rule covering `url` (host given if already known)."""
        parts = None
        if host is None:
            parts = split_url(url)
            host = parts.host
        if not host:
            return []
        found = list(self._host_rules(host))
        prefixes = self._prefixes.get(host)
        if prefixes:
            parts = parts or split_url(url)
            path, port = normalize_path(parts.path), non_default_port(parts)
            for rule_port, prefix, rule in prefixes:
                if rule_port == port and path.startswith(prefix):
                    found.append(Evidence(rule.reason_kind, rule.entry_id,
                                          f"url under prefix {rule.pattern}"))
        return found
