"""Open a finished output folder for auditing: its manifest, ledger and snapshot."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from clearcrawl.audit.manifest import MANIFEST, REGISTRY_SNAPSHOT, read_ledger_rows
from clearcrawl.io.parquet import read_table


class NotAnOutput(Exception):
    """The folder has no manifest: not a complete clearcrawl output."""


@dataclass
class Run:
    root: str
    manifest: dict
    opener: Callable

    def paths(self, folder: str) -> list[str]:
        return [o["path"] for o in self.manifest["outputs"] if o["path"].startswith(folder + "/")]

    def ledger_rows(self) -> list[dict]:
        if not hasattr(self, "_rows"):
            self._rows = read_ledger_rows(self.root, self.paths("ledger"), self.opener)
        return self._rows

    def snapshot(self):
        from clearcrawl.registry.snapshot import Snapshot

        folder = f"{self.root}/{REGISTRY_SNAPSHOT.rsplit('/', 1)[0]}"

        def read(path: str) -> bytes:  # its works files, beside it
            with self.opener(f"{folder}/{path}") as fh:
                return fh.read()

        with self.opener(f"{self.root}/{REGISTRY_SNAPSHOT}") as fh:
            return Snapshot.from_bytes(fh.read(), read)

    def crawls(self) -> list[str]:
        found: set[str] = set()
        for path in self.paths("data"):
            with self.opener(f"{self.root}/{path}") as fh:
                found.update(c for c in read_table(fh, columns=["crawl"]).column(0)
                             .to_pylist() if c)
        return sorted(found)


def open_run(root: str, opener: Callable) -> Run:
    try:
        with opener(f"{root}/{MANIFEST}") as fh:
            manifest = json.loads(fh.read())
    except (OSError, ValueError):
        raise NotAnOutput(f"{root}: no readable {MANIFEST}; not a complete clearcrawl output "
                          "(was the run interrupted?)") from None
    return Run(root, manifest, opener)
