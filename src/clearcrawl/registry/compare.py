"""What changed between two snapshots, and whether `refilter` can apply the change.

`refilter` re-decides an output from its ledger, kept text and signatures. That
is exact when the new registry only *adds* domain rules, works or synced list
entries: signals read from the crawl (headers, meta tags, captured robots.txt)
are not in the output, so a change to the policy or to the registry's
robots/tdmrep/ai.txt files needs a full run, and so does a removed entry (a
document it removed may have to come back, and its text is not kept).
"""

from __future__ import annotations

_SAME_SECTIONS = ("policy", "matching", "robots", "tdmrep", "aitxt", "agents")


def _work_key(work: dict) -> tuple:
    return (work["entry_id"], work["kind"], work["exact"], work["signature"], work["shingles"])


def refilter_problems(old, new) -> list[str]:
    """Why `new` cannot be applied to an output of `old` by refilter (empty if it can)."""
    problems = []
    for section in _SAME_SECTIONS:
        if old.content.get(section) != new.content.get(section):
            problems.append(f"[{section}] differs from the previous run's registry")
    old_rules = {tuple(r) for r in old.content["domain_rules"]}
    gone = old_rules - {tuple(r) for r in new.content["domain_rules"]}
    if gone:
        sample = ", ".join(sorted(r[0] for r in gone)[:3])
        problems.append(f"{len(gone)} domain rule(s) removed or changed (e.g. {sample})")
    new_works = {_work_key(w) for w in new.content["works"]}
    gone_works = [w["entry_id"] for w in old.content["works"] if _work_key(w) not in new_works]
    if gone_works:
        problems.append(f"{len(gone_works)} work(s) removed or changed "
                        f"(e.g. {', '.join(sorted(gone_works)[:3])})")
    return problems


def added_entries(old, new) -> dict:
    old_rules = {r[0] for r in old.content["domain_rules"]}
    old_works = {w["entry_id"] for w in old.content["works"]}
    return {"domain_rules": sorted(r[0] for r in new.content["domain_rules"]
                                   if r[0] not in old_rules),
            "works": sorted(w["entry_id"] for w in new.content["works"]
                            if w["entry_id"] not in old_works)}
