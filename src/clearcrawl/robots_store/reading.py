"""Reading a robots store, one Parquet row group in memory at a time.

`iter_fetches` gives every fetch row; `iter_applicable` one fetch per origin, the one
that decides today's robots.txt (for the pipeline's keyed join by origin);
`fresh_origins` what a `robots fetch` skips; `summarize` and `verify_store` for audits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clearcrawl.core.robots_fetches import RECENCY_FIELDS, SUCCESSFUL, RobotsFetch
from clearcrawl.io.parquet import iter_row_groups
from clearcrawl.robots_store.store import (
    COLUMNS,
    LIGHT_COLUMNS,
    MANIFEST,
    PARTS,
    SCHEMA,
    from_record,
    part_digest,
    part_paths,
    read_manifest,
    store_id_of,
)


def iter_tables(folder: str | Path, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The store's fetch rows as tables, one Parquet row group at a time (bounded memory)."""
    for path in part_paths(folder):
        yield from iter_row_groups(str(path), columns)


def iter_fetches(folder: str | Path, with_body: bool = True) -> Iterator[RobotsFetch]:
    """Every fetch row of the store, one row group in memory at a time."""
    columns = list(COLUMNS) if with_body else LIGHT_COLUMNS
    for table in iter_tables(folder, columns):
        for row in table.to_pylist():
            yield from_record(row)


_INDEX_COLUMNS = ["origin", *(f for f in RECENCY_FIELDS if f != "origin")]


def _index_table(paths: list[Path]) -> pa.Table:
    """For every fetch (no bodies): origin, the recency fields, successful, part, row."""
    tables = []
    for part, path in enumerate(paths):
        table = pq.read_table(str(path), columns=_INDEX_COLUMNS)
        successful = pc.is_in(table["outcome"], value_set=pa.array(sorted(SUCCESSFUL)))
        tables.append(table.append_column("successful", successful)
                      .append_column("part", pa.array([part] * len(table), pa.int32()))
                      .append_column("row", pa.array(range(len(table)), pa.int64())))
    if not tables:
        empty = SCHEMA.empty_table().select(_INDEX_COLUMNS)
        return (empty.append_column("successful", pa.array([], pa.bool_()))
                .append_column("part", pa.array([], pa.int32()))
                .append_column("row", pa.array([], pa.int64())))
    return pa.concat_tables(tables)


def iter_applicable(folder: str | Path) -> Iterator[RobotsFetch]:
    """One fetch per origin of the store: the latest successful fetch
    (`core.robots_fetches.applicable_fetch`), or the latest failure when none succeeded
    (the consumer then applies `robots_unreachable_is_optout`). For a keyed join by
    origin: each origin comes exactly once, in no particular order.

    Two passes: the light columns of every part pick the rows (origin, recency fields:
    about 120 bytes a fetch in memory), then each part is read one row group at a time
    and the picked rows are yielded with their bodies.
    """
    paths = part_paths(folder)
    index = _index_table(paths)
    if not len(index):
        return
    # Per origin, first the successful fetches, then the latest by the core's recency
    # rule (Arrow sorts nulls last by default: lowest, as there).
    order = index.sort_by([("origin", "ascending"), ("successful", "descending"),
                           *((name, "descending") for name in RECENCY_FIELDS)])
    origins = order["origin"].combine_chunks()
    first = pc.not_equal(origins.slice(1), origins.slice(0, len(origins) - 1))
    first = pa.concat_arrays([pa.array([True]), first])
    chosen = order.filter(first).select(["part", "row"]).sort_by([("part", "ascending"),
                                                                  ("row", "ascending")])
    del index, order, origins
    parts = chosen["part"].to_numpy()
    rows = chosen["row"].to_numpy()
    for part, path in enumerate(paths):
        wanted = rows[np.searchsorted(parts, part, "left"):np.searchsorted(parts, part, "right")]
        offset = 0
        for table in iter_row_groups(str(path)):
            here = wanted[(wanted >= offset) & (wanted < offset + len(table))] - offset
            if len(here):
                yield from (from_record(r) for r in table.take(pa.array(here)).to_pylist())
            offset += len(table)


def fresh_origins(folder: str | Path, since: dt.datetime | None) -> set[str]:
    """Origins with a successful fetch at or after `since` (any, when None): the ones a
    fetch skips. Failures never count: they are fetched again on the next run."""
    fresh: set[str] = set()
    if not (Path(folder) / MANIFEST).exists():
        return fresh
    for table in iter_tables(folder, ["origin", "fetched_at", "outcome"]):
        mask = pc.is_in(table["outcome"], value_set=pa.array(sorted(SUCCESSFUL)))
        if since is not None:
            mask = pc.and_(mask, pc.greater_equal(table["fetched_at"],
                                                  pa.scalar(since, SCHEMA.field("fetched_at").type)))
        fresh.update(table.filter(mask)["origin"].to_pylist())
    return fresh


def summarize(folder: str | Path) -> dict:
    """What the store covers: fetches, origins, origins with a successful fetch (their
    robots.txt today is known) and without (the policy decides), the fetch period."""
    manifest = read_manifest(folder)
    index = _index_table(part_paths(folder, manifest))
    table = pa.table({"origin": index["origin"], "successful": index["successful"]})
    grouped = table.group_by("origin").aggregate([("successful", "any")])
    with_success = pc.sum(grouped["successful_any"]).as_py() or 0
    return {"store_id": manifest["store_id"], "fetches": manifest["fetches"],
            "origins": len(grouped), "origins_with_success": with_success,
            "origins_unreachable": len(grouped) - with_success,
            "first_fetch": manifest["first_fetch"], "last_fetch": manifest["last_fetch"]}


def verify_store(folder: str | Path) -> list[str]:
    """Problems of a store: parts missing or unlisted, rows or digests or body hashes that
    do not match the manifest, a store_id that is not the parts' id. Empty when sound."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    problems = []
    listed = {p["path"] for p in manifest["parts"]}
    on_disk = {f"{PARTS}/{p.name}" for p in (folder / PARTS).glob("part-*.parquet")}
    problems += [f"{path}: on disk but not in the manifest" for path in sorted(on_disk - listed)]
    for entry in manifest["parts"]:
        path = folder / entry["path"]
        if not path.exists():
            problems.append(f"{entry['path']}: listed but missing")
            continue
        fetches = [from_record(r) for t in iter_row_groups(str(path)) for r in t.to_pylist()]
        if len(fetches) != entry["rows"] or part_digest(fetches) != entry["digest"]:
            problems.append(f"{entry['path']}: rows do not match the manifest digest")
        for fetch in fetches:
            actual = hashlib.sha256(fetch.body).hexdigest() if fetch.body is not None else None
            if actual != fetch.body_sha256:
                problems.append(f"{entry['path']}: {fetch.origin}: body does not match its sha256")
    if store_id_of(manifest["parts"]) != manifest["store_id"]:
        problems.append(f"{MANIFEST}: store_id is not the id of its parts")
    return problems
