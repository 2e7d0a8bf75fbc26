"""`clearcrawl audit verify DIR`: recompute everything the manifest claims.

Checks, in order, stopping at nothing (every problem is listed, the first is
the one reported): what needs no file's content (the manifest's own digest, no
unlisted files, the registry snapshot and its ids, the run_id from its inputs),
then every listed file's sha256 and row count, then counts and the ledger root
recomputed from the ledger rows, data and errors rows against the decisions and
the ids in every ledger row. Each check is its own function, so that refilter can
run the per-file ones as steps of its graph.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pyarrow.parquet as pq

from clearcrawl.audit.hashing import BucketedRoot, file_sha256, top_root
from clearcrawl.audit.manifest import (
    EVERY_FOLDER,
    MANIFEST,
    REGISTRY_SNAPSHOT,
    LedgerTally,
    run_id_for,
)
from clearcrawl.core.rows import kept_to_removed
from clearcrawl.io.parquet import iter_row_groups

DIGEST_KEY = "manifest_digest"


def manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest's canonical JSON without the digest itself."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def verify_output(root: str, opener: Callable, list_files: Callable) -> list[str]:
    """Every mismatch as 'path: what is wrong'; empty when the output verifies. In one
    process, in bounded memory; refilter runs the same checks as steps of its graph."""
    root = root.rstrip("/")
    manifest, problems = check_manifest(root, opener, list_files)
    if manifest is None:
        return problems
    for entry in manifest.get("outputs", []):
        problems += check_listed_file(root, entry, opener)
    if any(p.startswith("ledger/") for p in problems):
        return problems  # recomputing from a damaged ledger would only repeat the problem
    # One row group in memory at a time; the leaves wait by bucket, spilled to disk
    # beyond a bound, and each bucket is sorted on its own: memory is bounded per bucket.
    leaves = BucketedRoot()
    tally, ids = LedgerTally(leaves), set()
    try:
        for rel in ledger_paths(manifest):
            with opener(f"{root}/{rel}") as fh:
                for table in iter_row_groups(fh):
                    ids |= tally_ledger_table(table, tally)
        buckets = leaves.buckets()
    finally:
        leaves.close()
    problems += judge_ledger(manifest, tally.counts(), buckets, ids)
    if not any(p.startswith("changes/") for p in problems):  # else unread, as the ledger
        problems += _check_kept_to_removed(root, manifest, opener)
    return problems


def _check_kept_to_removed(root: str, manifest: dict, opener: Callable) -> list[str]:
    """A refilter's kept_to_removed, recounted from its changes/ rows (a row group at a
    time)."""
    changes = manifest.get("changes")
    if changes is None or not _in_folders(changes):
        return []
    moved = 0
    for entry in manifest.get("outputs", []):
        if entry["path"].startswith("changes/"):
            with opener(f"{root}/{entry['path']}") as fh:
                for table in iter_row_groups(fh, ["before", "after"]):
                    moved += kept_to_removed(table)
    if moved != changes.get("kept_to_removed"):
        return [f"changes/: {moved} rows go from keep to remove, for the manifest's "
                f"kept_to_removed {changes.get('kept_to_removed')}"]
    return []


def _in_folders(changes: dict) -> bool:
    """Whether a refilter's changes are in its changes/ and restorable/ folders (not
    listed in the manifest, as refilters wrote them before those folders existed)."""
    return "documents" not in changes


def check_manifest(root: str, opener: Callable, list_files: Callable
                   ) -> tuple[dict | None, list[str]]:
    """(manifest or None, problems) of everything that needs no output file's content:
    the manifest's digest, no unlisted file, the registry snapshot, the run_id. Reads
    O(files) names and the snapshot, never a row."""
    try:
        with opener(f"{root}/{MANIFEST}") as fh:
            manifest = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        return None, [f"{MANIFEST}: missing or not JSON ({exc.__class__.__name__}): the "
                      "output is incomplete or damaged"]
    problems: list[str] = []
    if manifest.get(DIGEST_KEY) != manifest_digest(manifest):
        problems.append(f"{MANIFEST}: content does not match its manifest_digest (edited)")
    listed = {entry.get("path", "") for entry in manifest.get("outputs", [])}
    for folder in EVERY_FOLDER:
        for full in list_files(f"{root}/{folder}"):
            rel = full[len(root) + 1:] if full.startswith(root + "/") else full
            if rel not in listed:
                problems.append(f"{rel}: not listed in the manifest (added after the run?)")
    problems += _check_snapshot(root, manifest, opener, list_files)
    run_id = run_id_for(manifest.get("inputs", []), manifest.get("registry_id", ""),
                        manifest.get("policy_id", ""), manifest.get("options", {}))
    if run_id != manifest.get("run_id"):
        problems.append(f"{MANIFEST}: run_id {manifest.get('run_id')} is not the one its "
                        f"inputs, registry and options give ({run_id})")
    return manifest, problems


def ledger_paths(manifest: dict) -> list[str]:
    return [o["path"] for o in manifest.get("outputs", []) if o["path"].startswith("ledger/")]


def tally_ledger_table(table, tally: LedgerTally) -> set[tuple[str, str]]:
    """Add a ledger table's rows (one row group) to `tally`, and their leaves to its root;
    the (registry_id, policy_id) pairs its rows name."""
    tally.add_table(table)
    return {(r["registry_id"], r["policy_id"]) for r in table.select(
        ["registry_id", "policy_id"]).group_by(
        ["registry_id", "policy_id"]).aggregate([]).to_pylist()}


def judge_ledger(manifest: dict, counts: dict, buckets: dict[int, tuple[str, int, int]],
                 ids: set[tuple[str, str]]) -> list[str]:
    """What the ledger's rows, recomputed (`counts`, `buckets`: {bucket: (root, rows,
    repeated doc_ids)}, the `ids` they name), say against the manifest's claims."""
    problems = []
    if counts != manifest.get("counts"):
        problems.append(f"ledger/: recomputed counts {counts} differ from the manifest's "
                        f"{manifest.get('counts')}")
    if any(repeated for _, _, repeated in buckets.values()):
        problems.append("ledger/: some doc_id appears in more than one row")
    root_hash = top_root({bucket: r for bucket, (r, _, _) in buckets.items()})
    if root_hash != manifest.get("ledger_root"):
        problems.append(f"ledger/: recomputed root {root_hash} differs from the manifest's "
                        f"ledger_root {manifest.get('ledger_root')}")
    rows_in = listed_rows(manifest)
    if rows_in["data"] != counts["kept"]:
        problems.append(f"data/: {rows_in['data']} rows for {counts['kept']} kept documents")
    if rows_in["errors"] != counts["error"]:
        problems.append(f"errors/: {rows_in['errors']} rows for {counts['error']} error rows")
    changes = manifest.get("changes")
    if changes is not None and not _in_folders(changes):
        # A refilter's output written before changes/ existed: its manifest lists them.
        if len(changes["documents"]) != changes.get("documents_changed"):
            problems.append(f"{MANIFEST}: changes lists {len(changes['documents'])} "
                            f"documents for documents_changed {changes.get('documents_changed')}")
    elif changes is not None:  # a refilter's output: its changes/ and restorable/ rows
        for folder, claim in (("changes", "documents_changed"),
                              ("restorable", "documents_restorable")):
            if rows_in[folder] != changes.get(claim):
                problems.append(f"{folder}/: {rows_in[folder]} rows for the manifest's "
                                f"{claim} {changes.get(claim)}")
    expected = {(manifest.get("registry_id"), manifest.get("policy_id"))}
    if counts["read"] and ids != expected:
        problems.append(f"ledger/: rows name registry/policy {sorted(ids - expected)[:3]} "
                        "other than the manifest's")
    return problems


def listed_rows(manifest: dict) -> dict[str, int]:
    """{output folder: rows of its files}, as the manifest lists them."""
    return {folder: sum(o["rows"] for o in manifest.get("outputs", [])
                        if o["path"].startswith(f"{folder}/"))
            for folder in EVERY_FOLDER}


def check_listed_file(root: str, entry: dict, opener: Callable) -> list[str]:
    """One listed output file against its manifest entry: present, same sha256, same
    number of rows."""
    path = entry.get("path", "")
    try:
        with opener(f"{root}/{path}") as fh:
            digest = file_sha256(fh)
    except OSError:
        return [f"{path}: listed in the manifest but missing"]
    if digest != entry.get("sha256"):
        return [f"{path}: sha256 {digest} differs from the manifest's {entry.get('sha256')} "
                "(the file was changed)"]
    with opener(f"{root}/{path}") as fh:
        rows = pq.ParquetFile(fh).metadata.num_rows
    if rows != entry.get("rows"):
        return [f"{path}: {rows} rows, the manifest says {entry.get('rows')}"]
    return []


def _check_snapshot(root: str, manifest: dict, opener: Callable,
                    list_files: Callable) -> list[str]:
    """The snapshot against the manifest, its works files against the snapshot's listing
    (read one at a time) and the registry_id recomputed over them; no unlisted file."""
    from clearcrawl.registry.snapshot import InvalidRegistry, Snapshot

    entry = manifest.get("registry_snapshot")
    if not entry:
        return [f"{MANIFEST}: no registry_snapshot entry"]
    try:
        with opener(f"{root}/{REGISTRY_SNAPSHOT}") as fh:
            data = fh.read()
    except OSError:
        return [f"{REGISTRY_SNAPSHOT}: missing"]
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.get("sha256"):
        return [f"{REGISTRY_SNAPSHOT}: sha256 {digest} differs from the manifest's"]
    folder = REGISTRY_SNAPSHOT.rsplit("/", 1)[0]

    def read(path: str) -> bytes:
        with opener(f"{root}/{folder}/{path}") as fh:
            return fh.read()

    problems = []
    try:
        snapshot = Snapshot.from_bytes(data, read)
        listed = [{"path": f"{folder}/{f.path}", "sha256": f.sha256, "count": f.count}
                  for f in snapshot.works_files]
        # Outputs written before works had their own files list none (works inside).
        if "works" in entry and entry["works"] != listed:
            problems.append(f"{REGISTRY_SNAPSHOT}: its works files differ from the "
                            "manifest's registry_snapshot.works")
        snapshot.verify_works()
    except (InvalidRegistry, ValueError) as exc:
        return [*problems, f"{REGISTRY_SNAPSHOT}: {exc}"]
    expected = {REGISTRY_SNAPSHOT, *(w["path"] for w in entry.get("works", []))}
    for full in list_files(f"{root}/{folder}"):
        rel = full[len(root) + 1:] if full.startswith(root + "/") else full
        if rel not in expected:
            problems.append(f"{rel}: not listed in the manifest (added after the run?)")
    if snapshot.registry_id != manifest.get("registry_id"):
        problems.append(f"{REGISTRY_SNAPSHOT}: registry_id {snapshot.registry_id} is not the "
                        f"manifest's {manifest.get('registry_id')}")
    if snapshot.policy_id != manifest.get("policy_id"):
        problems.append(f"{REGISTRY_SNAPSHOT}: policy_id {snapshot.policy_id} is not the "
                        f"manifest's {manifest.get('policy_id')}")
    return problems
