"""The effective policy (which signals count, and how) and the keep/remove decision."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from clearcrawl import reasons
from clearcrawl.core.crossmatch import RemovedSource, propagation_evidence
from clearcrawl.records import Evidence

# AI *training* crawlers whose robots.txt rules count as a TDM reservation by
# default: the tokens of ai.robots.txt's robots.json whose stated purpose is training
# models or building training data sets. Search engines, user-triggered fetchers and
# agents are deliberately absent; optout_registry/README.md gives the reason for every
# catalogue token left out. A catalogue name of several words counts by the product
# token a robots.txt parser reads from it ("Kangaroo Bot" -> Kangaroo).
DEFAULT_ROBOTS_AGENTS: tuple[str, ...] = (
    "GPTBot",
    "CCBot",
    "ClaudeBot",
    "anthropic-ai",
    "Google-Extended",
    "CloudVertexBot",
    "Applebot-Extended",
    "Meta-ExternalAgent",
    "FacebookBot",
    "Bytespider",
    "TikTokSpider",
    "cohere-training-data-crawler",
    "Amazonbot",
    "AI2Bot",
    "Ai2Bot-Dolma",
    "DeepSeekBot",
    "Diffbot",
    "omgili",
    "omgilibot",
    "Webzio-Extended",
    "PanguBot",
    "img2dataset",
    "LAIONDownloader",
    "Timpibot",
    "ICC-Crawler",
    "Cotoyogi",
    "SBIntuitionsBot",
    "Kangaroo",
    "Brightbot",
    "Factset_spyderbot",
    "FriendlyCrawler",
    "ISSCyberRiskCrawler",
    "VelenPublicWebCrawler",
    "Linguee",
    "Sidetrade",
)


@dataclass(frozen=True)
class Policy:
    robots_agents: tuple[str, ...] = DEFAULT_ROBOTS_AGENTS
    robots_current: bool = True
    noarchive_is_optout: bool = False
    near_duplicate_threshold: float = 0.8
    # An origin whose robots.txt could not be fetched today (5xx, timeout): a host
    # that is down today did not opt out of past crawls, so by default no restriction.
    robots_unreachable_is_optout: bool = False

    @property
    def policy_id(self) -> str:
        """Hash of the effective policy; recorded in every ledger row."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def as_dict(self) -> dict:
        data = asdict(self)
        data["robots_agents"] = sorted(set(self.robots_agents), key=str.lower)
        # Written only when set: the policy of every registry and output made before
        # the key existed keeps its policy_id, so those outputs still verify and
        # refilter (which refuses a changed policy) still accepts them.
        if not self.robots_unreachable_is_optout:
            del data["robots_unreachable_is_optout"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Policy:
        return cls(
            robots_agents=tuple(data.get("robots_agents", DEFAULT_ROBOTS_AGENTS)),
            robots_current=bool(data.get("robots_current", True)),
            noarchive_is_optout=bool(data.get("noarchive_is_optout", False)),
            near_duplicate_threshold=float(data.get("near_duplicate_threshold", 0.8)),
            robots_unreachable_is_optout=bool(data.get("robots_unreachable_is_optout", False)),
        )


def sort_evidence(evidence: list[Evidence]) -> list[Evidence]:
    """Deterministic order of reasons: by kind order, then entry id, then detail."""
    unique = {(e.kind, e.entry_id, e.detail): e for e in evidence}
    return sorted(unique.values(),
                  key=lambda e: (reasons.KIND_ORDER.get(e.kind, 99), e.entry_id, e.detail))


@dataclass(frozen=True)
class NearRemoved:
    """What propagation found for one document: the removed documents it shares a band
    key with (candidates, not yet verified), its own MinHash signature, and the
    policy's near-duplicate threshold."""

    signature: bytes
    sources: Sequence[RemovedSource]
    threshold: float


def decide(evidence: list[Evidence], near: NearRemoved | None = None
           ) -> tuple[str, list[Evidence]]:
    """Keep unless some evidence is a removal reason; reasons sorted for determinism.

    Every decision is made here, the direct one and, given `near`, the propagated one:
    a document kept on its own evidence is removed too if it is a verified
    near-duplicate of a removed document (one hop: a document removed directly is not
    also named a copy, and `near` only ever lists documents removed directly).
    """
    ordered = sort_evidence(evidence)
    removing = any(e.kind in reasons.KIND_ORDER for e in ordered)
    if not removing and near is not None and near.sources:
        added = propagation_evidence(near.signature, near.sources, near.threshold)
        if added:
            return reasons.REMOVE, sort_evidence([*ordered, *added])
    return (reasons.REMOVE if removing else reasons.KEEP), ordered
