"""TDMRep (W3C TDM Reservation Protocol, 2024): values, site-file rules, precedence.

`tdm-reservation: 1` reserves TDM rights and `0` does not; any other value is
unset. Carriers in precedence order: the site file /.well-known/tdmrep.json
(first matching `location` wins, robots-style `*` and `$`), then the HTTP
header, then the HTML meta tag. A later carrier overrides; an absent or unset
value never resets an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearcrawl.core.robots import escape_pattern, path_params_query, pattern_matches


def reservation_value(raw) -> int | None:
    """1, 0, or None (unset) for a header, meta or JSON value."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw in (0, 1) else None
    if isinstance(raw, str) and raw.strip() in ("0", "1"):
        return int(raw.strip())
    return None


@dataclass(frozen=True, slots=True)
class TdmFinding:
    reservation: int  # 0 or 1
    carrier: str  # "tdmrep.json", "http-header", "html-meta"
    detail: str
    policy: str | None = None


def match_site_file(rules: list, url: str) -> TdmFinding | None:
    """The first rule whose `location` matches the URL's path decides."""
    path = path_params_query(url)
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("location"), str):
            continue
        location = escape_pattern(rule["location"].strip())
        if not location.startswith(("/", "*")):
            location = "/" + location
        if not pattern_matches(path, location):
            continue
        value = reservation_value(rule.get("tdm-reservation"))
        if value is None:
            return None
        policy = rule.get("tdm-policy") if isinstance(rule.get("tdm-policy"), str) else None
        return TdmFinding(value, "tdmrep.json",
                          f"tdmrep.json rule {index} location {rule['location']} "
                          f"tdm-reservation={value}", policy)
    return None


def resolve(site_file: TdmFinding | None, header_value: str | None, header_policy: str | None,
            meta_value: str | None, meta_policy: str | None) -> TdmFinding | None:
    """Apply the precedence: site file < header < meta, unset never resets."""
    finding = site_file
    header = reservation_value(header_value)
    if header is not None:
        finding = TdmFinding(header, "http-header", f"header tdm-reservation={header_value}",
                             header_policy)
    meta = reservation_value(meta_value)
    if meta is not None:
        finding = TdmFinding(meta, "html-meta", f"meta tdm-reservation={meta_value}",
                             meta_policy)
    return finding
