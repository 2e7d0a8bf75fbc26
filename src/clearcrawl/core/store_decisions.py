"""Today's robots.txt from a robots store, as evidence (pure: no I/O, no Beam).

The pipeline joins each document with its origin's `CurrentRobots`
(core.robots_fetches) by origin; `store_capture` turns that into the
`RobotsCapture` that signals.evaluate reads, exactly as it reads the registry's
`robots/<host>.txt` files. `redecide` is refilter's rule for a newer store.
"""

from __future__ import annotations

from clearcrawl import reasons
from clearcrawl.core.policy import decide
from clearcrawl.core.robots import RobotsTxt
from clearcrawl.core.robots_fetches import DISALLOW_ALL, RULES, CurrentRobots
from clearcrawl.core.signals import RobotsCapture
from clearcrawl.records import Evidence

STORE_PREFIX = "robots-store:"


def store_label(store_id: str) -> str:
    """The entry_id of every piece of evidence a store gives."""
    return STORE_PREFIX + store_id[:16]


def is_store_evidence(evidence: Evidence) -> bool:
    return evidence.entry_id.startswith(STORE_PREFIX)


def store_capture(current: CurrentRobots | None, label: str) -> RobotsCapture | None:
    """The store's answer for an origin as a capture; None when it restricts nothing
    (never tried, a 4xx, or no successful fetch under the default policy)."""
    if current is None or current.mode not in (RULES, DISALLOW_ALL):
        return None
    fetch = current.fetch
    date = fetch.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if current.mode == DISALLOW_ALL:
        # status None: robots_evidence says "unreachable: complete disallow".
        return RobotsCapture(label, None, RobotsTxt(b""), date,
                             f"fetched {date}, no successful fetch, "
                             "robots_unreachable_is_optout")
    note = f"redirected to {fetch.final_url}" if fetch.redirect_chain else ""
    return RobotsCapture(label, fetch.status, RobotsTxt(fetch.body or b""), date, note)


def redecide(evidence: list[Evidence], fresh: list[Evidence]) -> tuple[list[Evidence], bool]:
    """A previous output's evidence with a newer store's: (evidence, restorable).

    The older store's evidence is replaced by `fresh`. A document it removed has no
    text in the output, so it cannot come back: when the newer store alone would keep
    it, the older evidence stays and the document is restorable."""
    old = [e for e in evidence if is_store_evidence(e)]
    rest = [e for e in evidence if not is_store_evidence(e)]
    renewed = rest + fresh
    if old and decide(renewed)[0] == reasons.KEEP:
        return evidence, True
    return renewed, False


def older_stores(reasons: list[dict], label: str) -> list[str]:
    """The robots stores other than `label` among a ledger row's reasons, sorted: a
    document they removed that the newer store `label` allows cannot come back (its
    text is not in the output), so a refilter lists it as restorable."""
    return sorted({r["entry_id"] for r in reasons
                   if r["entry_id"].startswith(STORE_PREFIX) and r["entry_id"] != label})
