"""`clearcrawl run`: assemble and run the filtering pipeline, then commit the output."""

from __future__ import annotations

import glob
import logging
import os
import sys
import time
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from clearcrawl.audit.hashing import file_sha256
from clearcrawl.audit.manifest import (
    MANIFEST,
    OUTPUT_FOLDERS,
    REGISTRY_SNAPSHOT,
    LedgerTally,
    run_id_for,
    versions,
)
from clearcrawl.audit.verify import manifest_digest
from clearcrawl.beam import outputs
from clearcrawl.beam.arguments import RUN_WORKER_PATHS, build_parser, local_worker_path
from clearcrawl.beam.outputs import open_uri
from clearcrawl.beam.progress import PROGRESS_DIR, ProgressReporter
from clearcrawl.beam.runner import make_pipeline
from clearcrawl.beam.transforms import (
    DecideDocuments,
    ReadRobotsCaptures,
    ReadShards,
)
from clearcrawl.beam.warm_workers import WarmWorkerPool
from clearcrawl.io.readers import ALL_SUFFIXES, format_of
from clearcrawl.registry.load import load_registry
from clearcrawl.registry.snapshot import InvalidRegistry

log = logging.getLogger("clearcrawl")
BROADCAST_LIMIT_BYTES = 1 << 30


class UsageError(Exception):
    """Bad usage or invalid input: exit code 2 with a one-line reason."""


@dataclass(frozen=True)
class RunResult:
    output: str
    manifest: dict


def expand_inputs(patterns: list[str], flag: str = "--input") -> list[dict]:
    """Sorted, de-duplicated [{uri, bytes}] for the globs; UsageError names the culprit."""
    found: dict[str, int] = {}
    for pattern in patterns:
        matched: list[tuple[str, int]] = []
        if "://" in pattern and not pattern.startswith("file://"):
            for result in FileSystems.match([pattern]):
                matched += [(m.path, m.size_in_bytes) for m in result.metadata_list]
        else:
            local = os.path.expanduser(pattern.removeprefix("file://"))
            for path in glob.glob(local, recursive=True):
                if os.path.isfile(path):
                    matched.append((os.path.abspath(path), os.path.getsize(path)))
        if not matched:
            raise UsageError(f"{flag} {pattern}: no files match")
        for uri, size in matched:
            if format_of(uri) is None:
                raise UsageError(f"{uri}: unknown input format (expected one of "
                                 f"{', '.join(ALL_SUFFIXES)})")
            found[uri] = size
    return [{"uri": uri, "bytes": size} for uri, size in sorted(found.items())]


def _read_bytes(uri: str) -> bytes:
    with open_uri(uri) as fh:
        return fh.read()


def _metrics(result) -> dict:
    """Every clearcrawl counter of the run (records_read, kept, removed:<kind>, ...)."""
    found: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace("clearcrawl"))[
            "counters"]:
        name = counter.key.metric.name
        found[name] = found.get(name, 0) + _counter_value(counter)
    return dict(sorted(found.items()))


def _counter_value(counter) -> int:
    try:
        value = counter.committed
    except Exception:  # noqa: BLE001 - some runners only report attempted values
        value = None
    return value if value is not None else counter.attempted


def _counter(result, name: str) -> int:
    counters = result.metrics().query(MetricsFilter().with_name(name))["counters"]
    return sum(_counter_value(counter) for counter in counters)


def run(argv: list[str] | None = None, pool: WarmWorkerPool | None = None) -> RunResult:
    """`pool`: warm local workers started by the caller (see runner.make_pipeline)."""
    args, beam_args = build_parser().parse_known_args(argv)
    refusal = local_worker_path(args, beam_args, RUN_WORKER_PATHS)
    if refusal:
        raise UsageError(refusal)
    inputs = expand_inputs(args.input)
    robots_inputs = expand_inputs(args.robots, "--robots") if args.robots else []
    if any(format_of(r["uri"]) != "warc" for r in robots_inputs):
        raise UsageError("--robots takes robots.txt capture WARCs (.warc, .warc.gz)")
    try:
        snapshot = load_registry(args.registry, _read_bytes)
    except InvalidRegistry as exc:
        raise UsageError(str(exc)) from None
    max_record_bytes = int(args.max_record_mb * 2**20)
    if args.match_shards < 1:
        raise UsageError("--match-shards must be at least 1")
    works = choose_work_strategy(snapshot, args.match_strategy)
    root = args.output.rstrip("/")
    # Options that change decisions go into run_id; the strategy and shard count
    # do not change any ledger row, so they are recorded but not hashed.
    run_options = {"max_record_bytes": max_record_bytes, "robots_inputs": robots_inputs,
                   "propagate": not args.no_propagate}
    run_id = run_id_for(inputs, snapshot.registry_id, snapshot.policy_id, run_options)
    pipeline, options, is_local = make_pipeline(beam_args, pool)
    # --dry_run True (DataflowRunner): build and pickle the job graph, submit nothing,
    # and so touch no output folder.
    dry_run = bool(options.get_all_options().get("dry_run"))
    staging = outputs.join(root, outputs.STAGING)
    snapshot_uri = outputs.join(staging, REGISTRY_SNAPSHOT)
    if not dry_run:
        try:
            outputs.prepare_output(root, args.overwrite)
        except FileExistsError as exc:
            raise UsageError(str(exc)) from None
        if "://" not in root:  # object stores have no folders to create
            FileSystems.mkdirs(outputs.join(staging, "registry"))
        outputs.write_bytes(snapshot_uri, snapshot.to_bytes())

    started = time.time()
    reporter = None
    if is_local and not dry_run and "://" not in root:
        progress_dir = outputs.join(staging, PROGRESS_DIR)
        reporter = ProgressReporter(progress_dir, len(inputs))
        reporter.start()
    else:
        progress_dir = None
    try:
        _build(pipeline, args, inputs, robots_inputs, snapshot, snapshot_uri, staging, works,
               max_record_bytes, progress_dir, is_local)
    finally:
        if reporter is not None:
            reporter.stop()
    result = pipeline.result
    if dry_run:
        # What the runner would have been given: Dataflow's job (graph and options).
        job = getattr(result, "job", None)
        graph = job.proto_pipeline if job is not None else pipeline.to_runner_api()
        staged = job.options if job is not None else options
        return RunResult(root, {"dry_run": True, "run_id": run_id,
                                "runner": type(pipeline.runner).__name__,
                                "transforms": len(graph.components.transforms),
                                "transform_names": sorted(
                                    t.unique_name for t in graph.components.transforms.values()),
                                "pipeline_options": staged.get_all_options(drop_default=True),
                                "inputs": inputs, "match_strategy": works})
    records_read = _counter(result, "records_read")
    manifest = commit(root, inputs, snapshot, run_id, run_options, records_read,
                      timing={"started": started, "finished": time.time()},
                      execution={"match_strategy": works, "match_shards": args.match_shards},
                      extra=lambda _: {"metrics": _metrics(result)})
    return RunResult(root, manifest)


def _build(pipeline, args, inputs, robots_inputs, snapshot, snapshot_uri, staging, works,
           max_record_bytes, progress_dir, is_local) -> None:
    """Assemble the run's graph and run it (leaving the `with` block runs the pipeline)."""
    with pipeline:
        docs = (pipeline
                | "ListShards" >> beam.Create([i["uri"] for i in inputs])
                | "ReadShards" >> ReadShards(max_record_bytes, progress_dir))
        captures = None
        if robots_inputs:
            captures = (pipeline
                        | "ListRobotsShards" >> beam.Create([r["uri"] for r in robots_inputs])
                        | "ReadRobotsCaptures" >> ReadRobotsCaptures())
        _ = docs | "DecideDocuments" >> DecideDocuments(
            snapshot_uri, staging, captures, works=works, propagate=not args.no_propagate,
            shards=args.match_shards, local=is_local)


def choose_work_strategy(snapshot, requested: str) -> str:
    """"none" without works; else the request, with auto = join above 1 GiB of prints."""
    if not snapshot.content["works"]:
        return "none"
    if requested != "auto":
        return requested
    return "join" if snapshot.works_bytes() > BROADCAST_LIMIT_BYTES else "broadcast"


def commit(root: str, inputs: list[dict], snapshot, run_id: str, run_options: dict,
           records_read: int, timing: dict, execution: dict | None = None,
           extra=None) -> dict:
    """Check the accounting, move staged files into place, write the manifest last.

    `extra(ledger paths) -> dict` adds keys to the manifest (refilter's changes)."""
    receipts = outputs.read_receipts(root)
    problems = [f"{path}: staged output that no receipt accounts for"
                for path in outputs.unreceipted_files(root, receipts)]
    tally = LedgerTally()
    for _, receipt_tally in receipts.values():
        tally.merge(receipt_tally)
    counts, root_hash, distinct = tally.counts(), tally.root(), tally.distinct()
    files = {folder: outputs.promote_staged(root, folder, receipts) for folder in OUTPUT_FOLDERS}
    rows = {folder: sum(f["rows"] for f in described) for folder, described in files.items()}
    if counts["read"] != records_read:
        problems.append(f"ledger has {counts['read']} rows but readers saw {records_read} records")
    if distinct != counts["read"]:  # e.g. a retried bundle whose output was kept twice
        problems.append(f"ledger has {counts['read'] - distinct} duplicated doc_id rows")
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
        raise RuntimeError("accounting check failed, no manifest written: " + "; ".join(problems))
    manifest = {
        "run_id": run_id,
        "registry_id": snapshot.registry_id,
        "policy_id": snapshot.policy_id,
        "policy": snapshot.policy.as_dict(),
        "versions": versions(),
        "options": run_options,
        "inputs": inputs,
        "counts": counts,
        "outputs": [f for folder in OUTPUT_FOLDERS for f in files[folder]],
        "ledger_root": root_hash,
        "execution": execution or {},
        "timing": {k: round(v, 3) for k, v in timing.items()},
    }
    if extra is not None:
        manifest.update(extra([f["path"] for f in files["ledger"]]))
    snapshot_path = outputs.join(root, REGISTRY_SNAPSHOT)
    if "://" not in root:
        FileSystems.mkdirs(outputs.join(root, REGISTRY_SNAPSHOT.split("/")[0]))
    FileSystems.rename([outputs.join(root, outputs.STAGING, REGISTRY_SNAPSHOT)], [snapshot_path])
    with open_uri(snapshot_path) as fh:
        manifest["registry_snapshot"] = {"path": REGISTRY_SNAPSHOT, "sha256": file_sha256(fh)}
    manifest["manifest_digest"] = manifest_digest(manifest)
    outputs.delete_tree(outputs.join(root, outputs.STAGING))
    outputs.write_json_atomically(outputs.join(root, MANIFEST), manifest)
    return manifest


def format_summary(result: RunResult) -> str:
    m = result.manifest
    if m.get("dry_run"):
        return (f"clearcrawl run {m['run_id']}: dry run on {m['runner']}: job graph of "
                f"{m['transforms']} transforms built and pickled; nothing submitted or written")
    c = m["counts"]
    errors_by_kind = _errors_by_kind(result.output, m)
    lines = [f"clearcrawl run {m['run_id']}: {c['read']} records read from "
             f"{len(m['inputs'])} files",
             f"  kept     {c['kept']:>8}",
             f"  removed  {c['removed']:>8}" + _breakdown(c["removed_by_kind"]),
             f"  error    {c['error']:>8}" + _breakdown(errors_by_kind)]
    per_folder: dict[str, int] = {}
    for f in m["outputs"]:
        per_folder[f["path"].split("/")[0]] = per_folder.get(f["path"].split("/")[0], 0) + 1
    if m.get("metrics"):
        lines.append("  counters " + ", ".join(f"{k} {v}" for k, v in m["metrics"].items()))
    lines.append(f"  registry {m['registry_id'][:16]}  policy {m['policy_id'][:16]}")
    lines.append(f"  output   {result.output}/  (" + ", ".join(
        f"{k}/ {v} file{'s' if v != 1 else ''}" for k, v in per_folder.items())
        + f", {MANIFEST})")
    return "\n".join(lines)


def _breakdown(by_kind: dict) -> str:
    if not by_kind:
        return ""
    return "  (" + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items(),
                                                          key=lambda kv: (-kv[1], kv[0]))) + ")"


def _errors_by_kind(root: str, manifest: dict) -> dict:
    from clearcrawl.io.parquet import read_table

    counts: dict[str, int] = {}
    for f in manifest["outputs"]:
        if f["path"].startswith("errors/") and f["rows"]:
            with open_uri(outputs.join(root, f["path"])) as fh:
                for kind in read_table(fh, columns=["error_kind"]).column(0).to_pylist():
                    counts[kind] = counts.get(kind, 0) + 1
    return counts


def main(argv: list[str] | None = None, pool: WarmWorkerPool | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run(argv, pool)
    except UsageError as exc:
        print(f"clearcrawl run: {exc}", file=sys.stderr)
        return 2
    print(format_summary(result))
    return 0
