"""Commit: the graph's last step, the way Beam's own file sinks finalise.

Over the receipts of every staged output set, the bucket roots of the ledger's
leaves, the read counts of every input file and the counts of every checked
shuffle and side input (all PCollections, so only what the runner committed
counts, never a retried attempt's leftovers), it checks the accounting, moves the staged files into place and writes the manifest last. The
launcher holds no per-record state: it only prints the manifest. Runner metrics
are never read here; they are progress only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from clearcrawl.audit.hashing import bucket_root, file_sha256, top_root
from clearcrawl.audit.manifest import (
    MANIFEST,
    OUTPUT_FOLDERS,
    REGISTRY_SNAPSHOT,
    LedgerTally,
    receipt_tally,
    versions,
)
from clearcrawl.audit.verify import manifest_digest
from clearcrawl.beam import outputs
from clearcrawl.beam.outputs import open_uri
from clearcrawl.beam.shuffle_check import (
    ShuffleCounts,
    camel,
    received_tally,
    shuffle_losses,
)
from clearcrawl.registry.snapshot import Snapshot


@dataclass(frozen=True)
class CommitPlan:
    """What the manifest states besides what the graph computes."""

    root: str
    run_id: str
    registry_id: str
    policy_id: str
    policy: dict
    inputs: list[dict]
    options: dict
    execution: dict = field(default_factory=dict)
    started: float = 0.0
    folders: tuple[str, ...] = OUTPUT_FOLDERS  # the output's folders (a refilter's: more)


_PARTS = ("receipts", "leaves", "reads")  # CommitOutput's own inputs
_OWN = ("receipts", "roots", "reads")  # _CommitFn's own side inputs (leaves become roots)
# Begins the commit step's error when the accounting does not add up.
ACCOUNTING_FAILED = "accounting check failed, no manifest written: "


def refusal_in(error: BaseException, prefix: str) -> str | None:
    """What a commit step refused, after `prefix`, from the error the runner raised
    (its own type, the step's text inside, perhaps with the step named after it);
    None if it holds no such refusal."""
    found = re.search(re.escape(prefix) + r"(.*?)(?: \[while running .*)?$", str(error),
                      re.MULTILINE)
    return found.group(1) if found else None


class CommitOutput(beam.PTransform):
    """{"receipts": receipt dicts, "leaves": (bucket, [(doc_id, leaf)]), "reads": records
    read per input file, and any further named PCollections} -> the manifest, written (a
    one-element PCollection). `shuffles`: the graph's checked shuffles, to which the
    commit's own side inputs are added. `describe({name: list of a further
    PCollection's elements}, {name: receipt}) -> dict` adds its keys to the manifest
    (refilter's changes)."""

    def __init__(self, plan: CommitPlan, shuffles: ShuffleCounts,
                 describe: Callable[[dict, dict], dict] | None = None):
        super().__init__()
        self._plan = plan
        self._shuffles = shuffles
        self._describe = describe

    def expand(self, parts):
        pipeline = parts["receipts"].pipeline
        further = sorted(name for name in parts if name not in _PARTS)
        if "roots" in further:
            raise ValueError("'roots' is the commit's own input (the ledger's bucket roots)")
        given = {"receipts": parts["receipts"],
                 "roots": parts["leaves"] | "BucketRoots" >> BucketRoots(
                     self._shuffles, "GroupBuckets"),
                 "reads": parts["reads"],
                 **{name: parts[name] for name in further}}
        labels = {name: f"Commit{camel(name)}" for name in given}
        side = [self._shuffles.as_list(labels[name], pcoll) for name, pcoll in given.items()]
        tallies = beam.pvalue.AsList(self._shuffles.tallies(pipeline))
        return (pipeline
                | "Once" >> beam.Create([None])
                | "Commit" >> beam.ParDo(_CommitFn(self._plan, self._describe, labels,
                                                   self._shuffles.expected()),
                                         tallies, *side))


class BucketRoots(beam.PTransform):
    """PCollection[(bucket, [(doc_id, leaf)])] -> PCollection[(bucket, (root, rows,
    repeated doc_ids))]: each bucket's leaves meet on one worker (memory bounded per
    bucket), whatever runner or sharding wrote them, in the checked shuffle `label`."""

    def __init__(self, shuffles: ShuffleCounts, label: str):
        super().__init__()
        self._shuffles = shuffles
        self._label = label

    def expand(self, leaves):
        return (self._shuffles.group_by_key(self._label, leaves)
                | "Roots" >> beam.MapTuple(lambda bucket, groups: (bucket, bucket_root(
                    pair for group in groups for pair in group))))


class _CommitFn(beam.DoFn):
    """The side inputs, named as `labels` lists them, are judged in this order: first
    whether every shuffle and side input passed on what it was given (so a runner's
    loss is never reported as anything else), then `describe`, then the accounting."""

    def __init__(self, plan: CommitPlan, describe, labels: dict[str, str],
                 expected: list[tuple[str, str, str]]):
        self._plan = plan
        self._describe = describe
        self._labels = labels
        self._expected = expected

    def process(self, _, tallies, *side):
        given = dict(zip(self._labels, side, strict=True))
        lost = shuffle_losses([*tallies, *(received_tally(self._labels[name], values)
                                           for name, values in given.items())],
                              self._expected)
        if lost:
            raise RuntimeError(ACCOUNTING_FAILED + "; ".join(lost))
        further = {name: values for name, values in given.items() if name not in _OWN}
        receipts = {r["name"]: r for r in given["receipts"]}
        extra = self._describe(further, receipts) if self._describe is not None else None
        yield commit(self._plan, receipts, dict(given["roots"]), sum(given["reads"]), extra)


def commit(plan: CommitPlan, receipts: dict[str, dict], buckets: dict[int, tuple],
           records_read: int, extra: dict | None = None) -> dict:
    """Check the accounting, move staged files into place, write the manifest last.

    `receipts`: {name: receipt}; `buckets`: {bucket: (root, rows, repeated doc_ids)};
    `extra`: further keys of the manifest (refilter's changes)."""
    root = plan.root
    problems = [f"{path}: staged output that no receipt accounts for"
                for path in outputs.unreceipted_files(root, receipts)]
    tally = LedgerTally()
    for described in receipts.values():
        tally.merge(receipt_tally(described))
    counts = tally.counts()
    leaves = sum(rows for _, rows, _ in buckets.values())
    repeated = sum(r for _, _, r in buckets.values())
    files = {folder: outputs.promote_staged(root, folder, receipts) for folder in plan.folders}
    rows = {folder: sum(f["rows"] for f in described) for folder, described in files.items()}
    if counts["read"] != records_read:
        problems.append(f"ledger has {counts['read']} rows but readers saw {records_read} records")
    if leaves != counts["read"]:
        problems.append(f"ledger root covers {leaves} rows of {counts['read']}")
    if repeated:  # e.g. a retried bundle whose output was kept twice
        problems.append(f"ledger has {repeated} duplicated doc_id rows")
    if counts["read"] != counts["kept"] + counts["removed"] + counts["error"]:
        problems.append("ledger decisions do not add up")
    if rows["data"] != counts["kept"]:
        problems.append(f"data has {rows['data']} rows for {counts['kept']} kept documents")
    if rows["signatures"] > counts["kept"] + counts["removed"]:
        problems.append(f"signatures has {rows['signatures']} rows for "
                        f"{counts['kept'] + counts['removed']} documents")
    if rows["errors"] != counts["error"]:
        problems.append(f"errors has {rows['errors']} rows for {counts['error']} error decisions")
    if problems:
        raise RuntimeError(ACCOUNTING_FAILED + "; ".join(problems))
    manifest = {
        "run_id": plan.run_id,
        "registry_id": plan.registry_id,
        "policy_id": plan.policy_id,
        "policy": plan.policy,
        "versions": versions(),
        "options": plan.options,
        "inputs": plan.inputs,
        "counts": counts,
        "outputs": [f for folder in plan.folders for f in files[folder]],
        "ledger_root": top_root({bucket: r for bucket, (r, _, _) in buckets.items()}),
        "execution": plan.execution,
        "timing": {"started": round(plan.started, 3), "finished": round(time.time(), 3)},
    }
    if extra:
        manifest.update(extra)
    manifest["registry_snapshot"] = promote_snapshot(root)
    manifest["manifest_digest"] = manifest_digest(manifest)
    outputs.delete_tree(outputs.join(root, outputs.STAGING))
    outputs.write_json_atomically(outputs.join(root, MANIFEST), manifest)
    return manifest


def promote_snapshot(root: str) -> dict:
    """Move the staged snapshot and its works files into the output's registry/ folder:
    the manifest's `registry_snapshot` block, {path, sha256, works: [{path, sha256,
    count}]} (paths relative to the output; the works files' digests are the
    snapshot's own listing, checked when the launcher staged them)."""
    folder = REGISTRY_SNAPSHOT.rsplit("/", 1)[0]
    with open_uri(outputs.join(root, outputs.STAGING, REGISTRY_SNAPSHOT)) as fh:
        listing = Snapshot.from_bytes(fh.read()).works_files
    moved = [REGISTRY_SNAPSHOT, *(f"{folder}/{f.path}" for f in listing)]
    if "://" not in root:  # a local rename needs its folders
        for path in moved:
            Path(outputs.join(root, path)).parent.mkdir(parents=True, exist_ok=True)
    FileSystems.rename([outputs.join(root, outputs.STAGING, path) for path in moved],
                       [outputs.join(root, path) for path in moved])
    with open_uri(outputs.join(root, REGISTRY_SNAPSHOT)) as fh:
        return {"path": REGISTRY_SNAPSHOT, "sha256": file_sha256(fh),
                "works": [{"path": f"{folder}/{f.path}", "sha256": f.sha256, "count": f.count}
                          for f in listing]}
