"""The robots store: every fetch of every origin's /robots.txt, as Parquet, no pickle.
Its format and its writer; reading.py reads it.

```
STORE/manifest.json          format, store_id, parts (path, rows, digest, counts, period)
STORE/parts/part-ID.parquet  fetch rows (columns: SCHEMA), sorted by origin, immutable
STORE/journal/ID.jsonl       rows of the batch being written (JSON lines, body base64)
STORE/.lock                  held by the one `robots fetch` writing the store
```

Parts are append-only and written atomically (temporary file, then rename), so a
reader sees whole parts only. Each finished fetch is first appended to the batch's
journal with one unbuffered write, so a killed fetch loses at most the origins in
flight: the next writer turns a leftover journal into its part before it starts.

`store_id` is the sha256 of the canonical list of part digests; a part's digest is the
sha256 over its rows in order (each row canonical JSON with the body's sha256 standing
for the body). It changes exactly when a fetch row is added or altered, and
`reading.verify_store` recomputes it from the rows and bodies.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from clearcrawl.core.robots_fetches import OUTCOMES, RobotsFetch
from clearcrawl.io.parquet import iter_row_groups
from clearcrawl.localfiles import write_atomically

FORMAT = "clearcrawl-robots-store/1"
MANIFEST = "manifest.json"
PARTS = "parts"
JOURNAL = "journal"
ROW_GROUP_ROWS = 2048  # bodies are at most 512 KiB: a row group stays small to read

SCHEMA = pa.schema([
    pa.field("origin", pa.string(), nullable=False),
    pa.field("fetched_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("outcome", pa.string(), nullable=False),
    pa.field("status", pa.int32()),
    pa.field("final_url", pa.string(), nullable=False),
    pa.field("redirect_chain", pa.list_(pa.string()), nullable=False),
    pa.field("content_type", pa.string()),
    pa.field("body", pa.binary()),
    pa.field("body_sha256", pa.string()),
    pa.field("truncated", pa.bool_(), nullable=False),
    pa.field("body_limit", pa.int64(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("attempts", pa.int32(), nullable=False),
])
COLUMNS = tuple(SCHEMA.names)
LIGHT_COLUMNS = [c for c in COLUMNS if c != "body"]


class InvalidStore(ValueError):
    """Not a robots store, or one whose content does not match its manifest."""


class StoreBusy(RuntimeError):
    """Another `robots fetch` is writing the store."""


# ---------------------------------------------------------------- rows and digests

def to_table(fetches: list[RobotsFetch]) -> pa.Table:
    columns = {name: [getattr(f, name) for f in fetches] for name in COLUMNS}
    columns["redirect_chain"] = [list(chain) for chain in columns["redirect_chain"]]
    return pa.table(columns, schema=SCHEMA)


def from_record(row: dict) -> RobotsFetch:
    row = dict(row)
    row["redirect_chain"] = tuple(row["redirect_chain"] or ())
    row.setdefault("body", None)
    return RobotsFetch(**row)


def _canonical_row(fetch: RobotsFetch) -> bytes:
    values = [fetch.origin, fetch.fetched_at.astimezone(dt.UTC).isoformat(), fetch.outcome,
              fetch.status, fetch.final_url, list(fetch.redirect_chain), fetch.content_type,
              fetch.body_sha256, fetch.truncated, fetch.body_limit, fetch.error, fetch.attempts]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def part_digest(fetches: Iterable[RobotsFetch]) -> str:
    digest = hashlib.sha256()
    for fetch in fetches:
        digest.update(_canonical_row(fetch))
    return digest.hexdigest()


def store_id_of(parts: list[dict]) -> str:
    canonical = json.dumps({"format": FORMAT, "parts": sorted(p["digest"] for p in parts)},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sort_key(fetch: RobotsFetch) -> tuple:
    return (fetch.origin, fetch.fetched_at)


def _part_entry(name: str, fetches: list[RobotsFetch]) -> dict:
    counts = {outcome: 0 for outcome in OUTCOMES}
    for fetch in fetches:
        counts[fetch.outcome] += 1
    times = [f.fetched_at for f in fetches]
    return {"path": f"{PARTS}/{name}", "rows": len(fetches), "digest": part_digest(fetches),
            "outcomes": counts, "first_fetch": min(times).isoformat(),
            "last_fetch": max(times).isoformat()}


def _manifest(parts: list[dict]) -> dict:
    parts = sorted(parts, key=lambda p: p["path"])
    counts = {outcome: sum(p["outcomes"][outcome] for p in parts) for outcome in OUTCOMES}
    return {"format": FORMAT, "store_id": store_id_of(parts),
            "fetches": sum(p["rows"] for p in parts), "outcomes": counts,
            "first_fetch": min((p["first_fetch"] for p in parts), default=None),
            "last_fetch": max((p["last_fetch"] for p in parts), default=None),
            "parts": parts}


# ---------------------------------------------------------------- reading

def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InvalidStore(f"{path}: no manifest (not a robots store; create one with "
                           "`clearcrawl robots fetch --store`)") from None
    except (OSError, ValueError) as exc:
        raise InvalidStore(f"{path}: unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidStore(f"{path}: not a {FORMAT} manifest")
    return manifest


def part_paths(folder: str | Path, manifest: dict | None = None) -> list[Path]:
    manifest = manifest if manifest is not None else read_manifest(folder)
    return [Path(folder) / p["path"] for p in manifest["parts"]]


# ---------------------------------------------------------------- writing

class StoreWriter:
    """Appends fetch rows to a store: journal first, then one Parquet part per batch.

    One writer per store at a time (an exclusive lock on STORE/.lock). A batch ends at
    `batch_rows` rows or `batch_bytes` bytes of bodies, whichever comes first, which
    bounds the writer's memory.
    """

    def __init__(self, folder: str | Path, batch_rows: int = 20_000,
                 batch_bytes: int = 32 * 2**20):
        self.folder = Path(folder)
        self.batch_rows, self.batch_bytes = batch_rows, batch_bytes
        (self.folder / PARTS).mkdir(parents=True, exist_ok=True)
        (self.folder / JOURNAL).mkdir(exist_ok=True)
        self._lock = open(self.folder / ".lock", "a+b")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise StoreBusy(f"{self.folder}: another `robots fetch` is writing this store") \
                from None
        self.recovered = self._recover()
        self._rows: list[RobotsFetch] = []
        self._bytes = 0
        self._journal: int | None = None
        self._batch_id = ""

    # A batch's id names its journal and its part, so recovery is idempotent: a journal
    # whose part exists was already written (the writer died before deleting it).
    @staticmethod
    def _new_batch_id() -> str:
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(6)}"

    def _recover(self) -> int:
        """Turn leftover journals into parts, list unlisted parts; rows recovered."""
        recovered = 0
        for journal in sorted((self.folder / JOURNAL).glob("*.jsonl")):
            part = self.folder / PARTS / f"part-{journal.stem}.parquet"
            if not part.exists():
                fetches = _read_journal(journal)
                if fetches:
                    self._write_part(part, fetches)
                    recovered += len(fetches)
            journal.unlink()
        for tmp in (self.folder / PARTS).glob(".*.tmp"):
            tmp.unlink()
        manifest_path = self.folder / MANIFEST
        parts = read_manifest(self.folder)["parts"] if manifest_path.exists() else []
        listed = {p["path"] for p in parts}
        for path in sorted((self.folder / PARTS).glob("part-*.parquet")):
            if f"{PARTS}/{path.name}" not in listed:
                fetches = [from_record(r) for t in iter_row_groups(str(path))
                           for r in t.to_pylist()]
                parts.append(_part_entry(path.name, fetches))
        self._parts = parts
        self._write_manifest()
        return recovered

    def add(self, fetch: RobotsFetch) -> None:
        if self._journal is None:
            self._batch_id = self._new_batch_id()
            self._journal = os.open(self.folder / JOURNAL / f"{self._batch_id}.jsonl",
                                    os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        # One write() per row, no buffer in this process: a row written survives a
        # SIGKILL of this process (the kernel has it).
        os.write(self._journal, _journal_line(fetch))
        self._rows.append(fetch)
        self._bytes += len(fetch.body or b"")
        if len(self._rows) >= self.batch_rows or self._bytes >= self.batch_bytes:
            self.flush()

    def flush(self) -> None:
        if self._journal is None:
            return
        os.close(self._journal)
        journal = self.folder / JOURNAL / f"{self._batch_id}.jsonl"
        name = f"part-{self._batch_id}.parquet"
        if self._rows:
            self._parts.append(self._write_part(self.folder / PARTS / name, self._rows))
            self._write_manifest()
        journal.unlink()
        self._rows, self._bytes, self._journal = [], 0, None

    def close(self) -> dict:
        self.flush()
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()
        return read_manifest(self.folder)

    def _write_part(self, path: Path, fetches: list[RobotsFetch]) -> dict:
        fetches = sorted(fetches, key=_sort_key)
        sink = pa.BufferOutputStream()
        pq.write_table(to_table(fetches), sink, compression="zstd",
                       row_group_size=ROW_GROUP_ROWS)
        write_atomically(path, sink.getvalue().to_pybytes())
        return _part_entry(path.name, fetches)

    def _write_manifest(self) -> None:
        text = json.dumps(_manifest(self._parts), indent=1, sort_keys=True) + "\n"
        write_atomically(self.folder / MANIFEST, text.encode())


def _journal_line(fetch: RobotsFetch) -> bytes:
    row = {name: getattr(fetch, name) for name in COLUMNS}
    row["fetched_at"] = fetch.fetched_at.isoformat()
    row["body"] = base64.b64encode(fetch.body).decode() if fetch.body is not None else None
    return json.dumps(row, ensure_ascii=False).encode() + b"\n"


def _read_journal(path: Path) -> list[RobotsFetch]:
    """The whole rows of a journal; a last line cut short by a kill is ignored."""
    fetches = []
    for line in path.read_bytes().split(b"\n"):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the empty tail, or a line cut short
        row["fetched_at"] = dt.datetime.fromisoformat(row["fetched_at"])
        if row["body"] is not None:
            row["body"] = base64.b64decode(row["body"])
        fetches.append(from_record(row))
    return fetches


def cutoff(max_age_days: float | None, now: dt.datetime | None = None) -> dt.datetime | None:
    if max_age_days is None:
        return None
    now = now or dt.datetime.now(dt.UTC)
    return now - dt.timedelta(days=max_age_days)

