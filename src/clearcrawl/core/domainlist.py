"""Parsing of plain domain lists as published by blocklist projects.

One host per line, `#` comments, and hosts-file lines (`0.0.0.0 example.com`) are
accepted, and so are the forms that mean "this host and its subdomains", as the
Block List Project publishes its lists: AdGuard/Adblock `||example.com^` (with or
without `$options`), dnsmasq `server=/example.com/` and `address=/example.com/0.0.0.0`,
and the wildcard `*.example.com` and leading dot `.example.com` of other lists. Each
is read as the host rule `example.com`, which covers the host and every subdomain. The apex is included for
`*.example.com` too: lists use it to name a whole site, and a missed removal is
the worse error. Any other line is reported with its line number, never guessed at.
"""

from __future__ import annotations

import re

from clearcrawl.core.domains import normalize_pattern

_SINKHOLES = {"0.0.0.0", "127.0.0.1", "::", "::1", "::0"}
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
                "ip6-loopback", "0.0.0.0"}
# `host##.banner` hides page elements: not a block of the host (`#` would cut it to `host`).
_COSMETIC = re.compile(r"\S#[@?$]?#")
# `||host^` or `||host^$option,...`: Adblock's "this domain and its subdomains" anchor.
_ADBLOCK_HOST = re.compile(r"\|\|([^/^$|*]+)\^(?:\$[^\s]*)?")
# dnsmasq `server=/a.example/b.example/[upstream]` and `address=/a.example/[ip]`.
_DNSMASQ = re.compile(r"(?:server|address|local)=/(.+)/[^/]*")


def parse_domain_list(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """(normalised hosts in file order without repeats, [(line number, problem)])."""
    hosts: dict[str, None] = {}
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("!") or (stripped.startswith("[") and stripped.endswith("]")):
            continue  # Adblock comment or header such as `[Adblock Plus 2.0]`
        if _COSMETIC.search(stripped):
            problems.append((number, f"{stripped[:80]!r}: an Adblock page-element filter, "
                                     "not a host rule"))
            continue
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if fields[0] in _SINKHOLES:
            fields = fields[1:]
        for field in fields:
            if field.lower() in _LOCAL_NAMES:
                continue
            for host in hosts_of_list_entry(field):
                pattern, error = normalize_pattern(host)
                if error:
                    problems.append((number, f"{field!r}: {_adblock_problem(field) or error}"))
                elif pattern:
                    hosts[pattern] = None
    return list(hosts), problems


def hosts_of_list_entry(field: str) -> list[str]:
    """The hosts a list entry names: `||x^`, `server=/x/`, `address=/x/ip`, `*.x` and
    `.x` name the host `x` (and its subdomains, as every host rule does); anything
    else is returned unchanged, for the host rule parser to accept or refuse."""
    adblock = _ADBLOCK_HOST.fullmatch(field)
    if adblock:
        return [adblock.group(1)]
    dnsmasq = _DNSMASQ.fullmatch(field)
    if dnsmasq:
        return [name for name in dnsmasq.group(1).split("/") if name] or [""]
    if field.startswith("*."):
        return [field[2:]]
    if field.startswith(".") and not field.startswith(".."):
        return [field[1:]]
    return [field]


def _adblock_problem(field: str) -> str | None:
    """Why an Adblock-looking entry is not a host rule, in the list's own terms."""
    if field.startswith("@@"):
        return "an Adblock exception (allow) rule, not a host to remove"
    if field.startswith("|") and not _ADBLOCK_HOST.fullmatch(field):
        return ("an Adblock rule that is not `||host^` (a URL or prefix pattern), "
                "not read as a host rule")
    return None
