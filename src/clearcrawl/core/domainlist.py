"""Parsing of plain domain lists as published by blocklist projects.

One host per line, `#` comments, and hosts-file lines (`0.0.0.0 example.com`) are
accepted; a malformed line is reported with its line number, never guessed at.
"""

from __future__ import annotations

from clearcrawl.core.domains import normalize_pattern

_SINKHOLES = {"0.0.0.0", "127.0.0.1", "::", "::1", "::0"}
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
                "ip6-loopback", "0.0.0.0"}


def parse_domain_list(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """(normalised hosts in file order without repeats, [(line number, problem)])."""
    hosts: dict[str, None] = {}
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if fields[0] in _SINKHOLES:
            fields = fields[1:]
        for field in fields:
            if field.lower() in _LOCAL_NAMES:
                continue
            pattern, error = normalize_pattern(field)
            if error:
                problems.append((number, error))
            elif pattern:
                hosts[pattern] = None
    return list(hosts), problems
