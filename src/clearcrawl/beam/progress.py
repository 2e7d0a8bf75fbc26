"""Live progress of a local run: files and records done, and the rate.

Readers in every worker process (in-process or multi-processing) write a small
JSON file of their counts under DIR/.staging/progress/ every couple of seconds;
a thread in the launcher sums them and redraws one line on a terminal, or logs
a line every 15 seconds otherwise. Remote runners have their own consoles.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger("clearcrawl")
PROGRESS_DIR = "progress"
_WRITE_EVERY_S = 2.0


class ProgressWriter:
    """Counts of one reader instance, written now and then to its own file."""

    def __init__(self, folder: str | None):
        self._path = Path(folder) / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json" if folder else None
        self.records = self.files = 0
        self._last = 0.0

    def add(self, records: int = 0, files: int = 0) -> None:
        self.records += records
        self.files += files
        now = time.monotonic()
        if self._path is not None and (files or now - self._last >= _WRITE_EVERY_S):
            self._last = now
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self._path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"records": self.records, "files": self.files}))
                tmp.replace(self._path)
            except OSError:
                self._path = None  # progress is a courtesy: never fail a run for it


def read_totals(folder: Path) -> tuple[int, int]:
    records = files = 0
    for path in folder.glob("*.json"):
        try:
            counts = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        records += counts.get("records", 0)
        files += counts.get("files", 0)
    return records, files


class ProgressReporter(threading.Thread):
    """Prints `files done/total, records, records/s` until stopped."""

    def __init__(self, folder: str, total_files: int, stream=None):
        super().__init__(name="clearcrawl-progress", daemon=True)
        self._folder = Path(folder)
        self._total = total_files
        self._stream = stream or sys.stderr
        self._tty = hasattr(self._stream, "isatty") and self._stream.isatty()
        self._halt = threading.Event()
        self._began = time.monotonic()

    def line(self) -> str:
        records, files = read_totals(self._folder)
        elapsed = max(time.monotonic() - self._began, 1e-6)
        return (f"read {files}/{self._total} files, {records:,} records, "
                f"{records / elapsed:,.0f} records/s, {elapsed:,.0f} s")

    def run(self) -> None:
        interval = 0.5 if self._tty else 15.0
        while not self._halt.wait(interval):
            if self._tty:
                self._stream.write("\r" + self.line() + "   ")
                self._stream.flush()
            else:
                log.info("progress: %s", self.line())

    def stop(self) -> None:
        self._halt.set()
        self.join()  # at most one pass of reading the small count files
        if self._tty:
            self._stream.write("\r" + self.line() + "\n")
            self._stream.flush()
