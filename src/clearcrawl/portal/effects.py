"""What the runs in the portal's `--outputs` folders did for one request, as `audit
lookup` answers it from each ledger: documents removed naming the request's entry, and
for a domain or URL prefix the documents of that site removed for other reasons or kept."""

from __future__ import annotations

import threading
from pathlib import Path

from clearcrawl.audit import auditing, lookup
from clearcrawl.audit.manifest import MANIFEST
from clearcrawl.core.domains import DomainRule, DomainRuleIndex

EXAMPLES = 5


class OutputFolders:
    """Output folders read lazily and cached until their manifest changes (a new run)."""

    def __init__(self, folders: list[str]):
        self.folders = [str(Path(f)) for f in folders]
        self._cache: dict[str, tuple[tuple, auditing.Run, set[str]]] = {}
        self._lock = threading.Lock()

    def _open(self, folder: str) -> tuple[auditing.Run, set[str]]:
        stat = (Path(folder) / MANIFEST).stat()
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(folder)
            if cached and cached[0] == key:
                return cached[1], cached[2]
            run = auditing.open_run(folder, lambda path: open(path, "rb"))
            run.ledger_rows()
            snapshot = run.snapshot()
            entries = {rule[0] for rule in snapshot.content["domain_rules"]}
            entries |= {work["entry_id"] for work in snapshot.work_records()}
            self._cache[folder] = (key, run, entries)
            return run, entries

    def effects(self, kind: str, pattern: str, entry_id: str | None) -> list[dict]:
        return [self._effect(folder, kind, pattern, entry_id) for folder in self.folders]

    def _effect(self, folder: str, kind: str, pattern: str, entry_id: str | None) -> dict:
        name = Path(folder).name
        try:
            run, entries = self._open(folder)
        except (OSError, auditing.NotAnOutput):
            return {"output": name, "error": "no complete run in this folder yet"}
        rows = run.ledger_rows()
        named = lookup.lookup(rows, entry=entry_id)["removed"] if entry_id else []
        answer = {"output": name, "run_id": run.manifest.get("run_id"),
                  "registry_id": run.manifest.get("registry_id"),
                  "registry_includes_entry": (entry_id in entries) if entry_id else None,
                  "removed": len(named), "removed_examples": _examples(named)}
        if kind == "work":
            # Kept documents cannot be attributed to a work: only matched copies are named.
            return {**answer, "kept": None, "kept_examples": [], "removed_other": None,
                    "removed_other_examples": []}
        host = pattern.split("/", 1)[0]
        site = lookup.lookup(rows, domain=host)
        if "/" in pattern:
            index = DomainRuleIndex([DomainRule("request", "optout", pattern)])
            site = {key: [r for r in site[key] if index.match(r["url"])]
                    for key in ("removed", "kept")}
        named_ids = {r["doc_id"] for r in named}
        other = [r for r in site["removed"] if r["doc_id"] not in named_ids]
        return {**answer, "kept": len(site["kept"]),
                "kept_examples": _examples(site["kept"]),
                "removed_other": len(other), "removed_other_examples": _examples(other)}


def _examples(rows: list[dict]) -> list[dict]:
    return [{"url": r["url"], "reasons": sorted({x["kind"] for x in r["reasons"]})}
            for r in rows[:EXAMPLES]]
