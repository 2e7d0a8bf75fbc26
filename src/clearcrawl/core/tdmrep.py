"""TDMRep (W3C TDM Reservation Protocol, 2024): values, site-file rules, precedence.

`tdm-reservation: 1` reserves TDM rights and `0` does not; any other value is
unset. Carriers in precedence order: the site file /.well-known/tdmrep.json
(first matching `location` wins, robots-style `*` and `$`), then the HTTP
header, then the HTML meta tag. A later carrier overrides; an absent or unset
value never resets an earlier one.

A carrier can hold several values (a repeated header or meta tag): each is read on
its own, and a `1` among them reserves (the restrictive reading of a conflict).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clearcrawl.core.robots import pattern_matches
from clearcrawl.core.urls import normalize_path


def reservation_value(raw) -> int | None:
    """1, 0, or None (unset) for a header, meta or JSON value.

    The report calls `tdm-reservation` "a boolean value", written 1 or 0. In JSON a
    number has no integer/decimal distinction (RFC 8259 s.6), so `1.0` is the number 1,
    and the JSON booleans are read as the boolean they are. Header and meta values are
    text: exactly `1` or `0`.
    """
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int | float):
        return int(raw) if raw in (0, 1) else None
    if isinstance(raw, str) and raw.strip() in ("0", "1"):
        return int(raw.strip())
    return None


@dataclass(frozen=True, slots=True)
class TdmFinding:
    reservation: int  # 0 or 1
    carrier: str  # "tdmrep.json", "http-header", "html-meta"
    detail: str
    policy: str | None = None


def match_site_file(rules: list, path: str) -> TdmFinding | None:
    """The first rule whose `location` matches the path decides.

    `path` is normalised by `urls.normalize_path`, and so is each location: the report
    requires percent-encoded unreserved characters to be decoded before comparison
    (`/%64irectory-a/x` is under `/directory-a/`).
    """
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("location"), str):
            continue
        location = rule["location"].strip()
        if not location.startswith(("/", "*")):
            location = "/" + location
        if not pattern_matches(path, normalize_path(location, dot_segments=False)):
            continue
        value = reservation_value(rule.get("tdm-reservation"))
        if value is None:
            return None
        policy = rule.get("tdm-policy") if isinstance(rule.get("tdm-policy"), str) else None
        return TdmFinding(value, "tdmrep.json",
                          f"tdmrep.json rule {index} location {rule['location']} "
                          f"tdm-reservation={value}", policy)
    return None


def carrier_value(values: Sequence[str]) -> tuple[int, str] | None:
    """(reservation, the raw value read) of one carrier's values: a `1` wins, then `0`."""
    read = [(reservation_value(v), v) for v in values]
    for wanted in (1, 0):
        for value, raw in read:
            if value == wanted:
                return value, raw
    return None


def resolve(site_file: TdmFinding | None, header_values: Sequence[str],
            header_policy: str | None, meta_values: Sequence[str],
            meta_policy: str | None) -> TdmFinding | None:
    """Apply the precedence: site file < header < meta, unset never resets."""
    finding = site_file
    header = carrier_value(header_values)
    if header is not None:
        finding = TdmFinding(header[0], "http-header", f"header tdm-reservation={header[1]}",
                             header_policy)
    meta = carrier_value(meta_values)
    if meta is not None:
        finding = TdmFinding(meta[0], "html-meta", f"meta tdm-reservation={meta[1]}",
                             meta_policy)
    return finding
