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
    gone_works, _ = _work_changes(old, new)
    if gone_works:
        problems.append(f"{len(gone_works)} work(s) removed or changed "
                        f"(e.g. {', '.join(sorted(gone_works)[:3])})")
    return problems


def _work_changes(old, new) -> tuple[list[str], list[str]]:
    """(entry_ids of old works removed or changed, entry_ids of added works): a merge of
    both snapshots' works in entry_id order, one works file of each in memory."""
    if old.works_files == new.works_files:  # the same files: the same works
        return [], []
    gone, added = [], []
    old_works, new_works = old.work_records(), new.work_records()
    before, after = next(old_works, None), next(new_works, None)
    while before is not None or after is not None:
        if after is None or (before is not None and before["entry_id"] < after["entry_id"]):
            gone.append(before["entry_id"])
            before = next(old_works, None)
        elif before is None or after["entry_id"] < before["entry_id"]:
            added.append(after["entry_id"])
            after = next(new_works, None)
        else:
            if _work_key(before) != _work_key(after):
                gone.append(before["entry_id"])
            before, after = next(old_works, None), next(new_works, None)
    return gone, added


def added_entries(old, new) -> dict:
    old_rules = {r[0] for r in old.content["domain_rules"]}
    return {"domain_rules": sorted(r[0] for r in new.content["domain_rules"]
                                   if r[0] not in old_rules),
            "works": _work_changes(old, new)[1]}
