"""`clearcrawl run`: assemble the filtering pipeline, whose last step commits the output,
and run it."""

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

from clearcrawl.audit.manifest import MANIFEST, REGISTRY_SNAPSHOT, run_id_for
from clearcrawl.beam import outputs
from clearcrawl.beam.arguments import RUN_WORKER_PATHS, build_parser, local_worker_path
from clearcrawl.beam.collect_evidence import CollectEvidence
from clearcrawl.beam.commit import ACCOUNTING_FAILED, CommitOutput, CommitPlan, refusal_in
from clearcrawl.beam.config import RunConfig
from clearcrawl.beam.crawl_robots import ReadRobotsCaptures, ResolveRobotsRedirects
from clearcrawl.beam.decide import Decide
from clearcrawl.beam.match_works import MatchWorks
from clearcrawl.beam.outputs import open_uri
from clearcrawl.beam.progress import PROGRESS_DIR, ProgressReporter
from clearcrawl.beam.propagate_removals import PropagateRemovals
from clearcrawl.beam.read_shards import ReadShards
from clearcrawl.beam.robots_store_join import ReadRobotsStore, store_block
from clearcrawl.beam.runner import in_several_local_workers, join_shards, make_pipeline
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.beam.write_outputs import WriteOutputs
from clearcrawl.core.coverage import input_carriers
from clearcrawl.io.readers import ALL_SUFFIXES, format_of
from clearcrawl.registry.load import load_registry
from clearcrawl.registry.snapshot import InvalidRegistry
from clearcrawl.robots_store.store import InvalidStore

log = logging.getLogger("clearcrawl")
BROADCAST_LIMIT_BYTES = 1 << 30


class UsageError(Exception):
    """Bad usage or invalid input: exit code 2 with a one-line reason."""


class RunFailed(Exception):
    """A run whose commit refused to write a manifest: exit code 1 with its reason."""


# Said after rows lost in a local run with several workers.
LOCAL_LOSS_ADVICE = (" (Beam's local runner with several workers is known to drop rows of "
                     "large shuffles: run again, with --direct_num_workers 1 or on Dask; "
                     "docs/scale.md)")
_LOSS_WORDS = " passed on "  # how the commit's refusals (shuffle_losses, join_losses) say it


def raise_refused_commit(error: BaseException, pipeline: beam.Pipeline,
                         is_local: bool) -> None:
    """RunFailed if `error` (what the runner raised) is the commit's refusal, with
    advice if it found rows lost in a local run with several workers."""
    problem = refusal_in(error, ACCOUNTING_FAILED)
    if problem is None:
        return
    advice = (LOCAL_LOSS_ADVICE if _LOSS_WORDS in problem and is_local
              and in_several_local_workers(pipeline.options) else "")
    raise RunFailed(ACCOUNTING_FAILED + problem + advice) from None


@dataclass(frozen=True)
class RunResult:
    output: str
    manifest: dict
    metrics: dict | None = None  # runner counters, progress only (None: not reported)


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


def _metrics(result) -> dict | None:
    """Every clearcrawl counter of the run (records_read, kept, removed:<kind>, ...), as
    progress to print; None where the runner reports none (Dask's raises)."""
    try:
        counters = result.metrics().query(
            MetricsFilter().with_namespace("clearcrawl"))["counters"]
    except Exception:  # noqa: BLE001 - metrics are progress only, never a reason to fail
        return None
    found: dict[str, int] = {}
    for counter in counters:
        name = counter.key.metric.name
        found[name] = found.get(name, 0) + _counter_value(counter)
    return dict(sorted(found.items()))


def _counter_value(counter) -> int:
    try:
        value = counter.committed
    except Exception:  # noqa: BLE001 - some runners only report attempted values
        value = None
    return value if value is not None else counter.attempted


@dataclass(frozen=True)
class PreparedRun:
    """A run's graph, built and not yet run: its last step writes the manifest."""

    pipeline: beam.Pipeline
    plan: CommitPlan
    is_local: bool
    dry_run: bool
    progress_dir: str | None
    files: int


def prepare(argv: list[str] | None = None
            ) -> PreparedRun:
    """Check the arguments, prepare the output folder, build the graph."""
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
    if args.match_shards is not None and args.match_shards < 1:
        raise UsageError("--match-shards must be at least 1")
    works = choose_work_strategy(snapshot, args.match_strategy)
    root = args.output.rstrip("/")
    # Options that change decisions go into run_id; the strategy and shard count
    # do not change any ledger row, so they are recorded but not hashed.
    run_options = {"max_record_bytes": max_record_bytes, "robots_inputs": robots_inputs,
                   "propagate": not args.no_propagate}
    if args.robots_store:
        run_options["robots_store"] = robots_store_option(args.robots_store)
    run_id = run_id_for(inputs, snapshot.registry_id, snapshot.policy_id, run_options)
    # Recorded per input, not hashed: a function of the input and the robots inputs.
    inputs = [{**i, "carriers": input_carriers(i["uri"], bool(robots_inputs))} for i in inputs]
    pipeline, options, is_local = make_pipeline(beam_args, len(inputs))
    shards = join_shards(args.match_shards, options, is_local)
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
        stage_snapshot(snapshot, snapshot_uri)
    progress_dir = (outputs.join(staging, PROGRESS_DIR)
                    if is_local and not dry_run and "://" not in root else None)
    plan = CommitPlan(root, run_id, snapshot.registry_id, snapshot.policy_id,
                      snapshot.policy.as_dict(), inputs, run_options,
                      {"match_strategy": works, "match_shards": shards},
                      time.time())
    config = RunConfig(snapshot_uri, staging, works=works, propagate=not args.no_propagate,
                       match_shards=shards, max_record_bytes=max_record_bytes,
                       progress_dir=progress_dir, robots_store=args.robots_store,
                       store_label=run_options.get("robots_store", {}).get("label", ""),
                       robots_unreachable_is_optout=snapshot.policy.robots_unreachable_is_optout)
    _build(pipeline, config, inputs, robots_inputs, plan)
    return PreparedRun(pipeline, plan, is_local, dry_run, progress_dir, len(inputs))


def run(argv: list[str] | None = None) -> RunResult:
    prepared = prepare(argv)
    reporter = None
    if prepared.progress_dir is not None:
        reporter = ProgressReporter(prepared.progress_dir, prepared.files)
        reporter.start()
    try:
        result = prepared.pipeline.run()
        result.wait_until_finish()
    except Exception as exc:  # noqa: BLE001 - runners wrap a step's error in their own
        raise_refused_commit(exc, prepared.pipeline, prepared.is_local)
        raise
    finally:
        if reporter is not None:
            reporter.stop()
    root = prepared.plan.root
    if prepared.dry_run:
        # What the runner would have been given: Dataflow's job (graph and options).
        job = getattr(result, "job", None)
        graph = job.proto_pipeline if job is not None else prepared.pipeline.to_runner_api()
        staged = job.options if job is not None else prepared.pipeline.options
        return RunResult(root, {"dry_run": True, "run_id": prepared.plan.run_id,
                                "runner": type(prepared.pipeline.runner).__name__,
                                "transforms": len(graph.components.transforms),
                                "transform_names": sorted(
                                    t.unique_name for t in graph.components.transforms.values()),
                                "pipeline_options": staged.get_all_options(drop_default=True),
                                "inputs": prepared.plan.inputs,
                                "match_strategy": prepared.plan.execution["match_strategy"]})
    # The graph's last step wrote the manifest; the launcher only reads it.
    return RunResult(root, outputs.read_manifest(root), _metrics(result))


def _build(pipeline, config: RunConfig, inputs: list[dict], robots_inputs: list[dict],
           plan: CommitPlan) -> None:
    """Assemble the run's graph, from listing the inputs to writing the manifest: the
    flow, step by step; the robots captures and store branches feed CollectEvidence.
    Every shuffle is checked (ShuffleCounts): the commit refuses one that lost rows. The
    file lists are not reshuffled as they are made (Create's own reshuffle would not be
    checked): the checked Spread steps spread them."""
    shuffles = ShuffleCounts()
    captures = store = None
    if robots_inputs:
        captures = (pipeline
                    | "ListRobotsShards" >> beam.Create([r["uri"] for r in robots_inputs],
                                                        reshuffle=False)
                    | "ReadRobotsCaptures" >> ReadRobotsCaptures(shuffles)
                    | "ResolveRobotsRedirects" >> ResolveRobotsRedirects(shuffles))
    if config.robots_store:
        store = pipeline | "ReadRobotsStore" >> ReadRobotsStore(
            config.robots_store, config.robots_unreachable_is_optout)
    read = (pipeline
            | "ListShards" >> beam.Create([i["uri"] for i in inputs], reshuffle=False)
            | "ReadShards" >> ReadShards(config, shuffles))
    written = (read["records"]
               | "CollectEvidence" >> CollectEvidence(config, shuffles, captures, store)
               | "MatchWorks" >> MatchWorks(config, shuffles)
               | "Decide" >> Decide(config)
               | "PropagateRemovals" >> PropagateRemovals(config, shuffles)
               | "WriteOutputs" >> WriteOutputs(config))
    _ = ({"receipts": written["receipts"], "leaves": written["leaves"],
          "reads": read["reads"]}
         | "CommitOutput" >> CommitOutput(plan, shuffles))


def robots_store_option(folder: str) -> dict:
    """The store's manifest block; UsageError (exit 2) naming it when it is no store."""
    try:
        return store_block(folder)
    except (InvalidStore, OSError, ValueError, KeyError) as exc:
        raise UsageError(f"--robots-store {folder}: {exc}") from None


def stage_snapshot(snapshot, snapshot_uri: str) -> None:
    """The snapshot and its works files, beside it, into the staging folder; the works
    are checked on the way (one file at a time): UsageError if altered."""
    folder = snapshot_uri.rsplit("/", 1)[0]

    try:  # (a local create makes the folders it needs)
        snapshot.export(lambda path, data: outputs.write_bytes(outputs.join(folder, path), data),
                        snapshot_uri.rsplit("/", 1)[1])
    except InvalidRegistry as exc:
        raise UsageError(str(exc)) from None


def choose_work_strategy(snapshot, requested: str) -> str:
    """"none" without works; else the request, with auto = join above 1 GiB of prints."""
    if not snapshot.works_count:
        return "none"
    if requested != "auto":
        return requested
    return "join" if snapshot.works_bytes() > BROADCAST_LIMIT_BYTES else "broadcast"


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
    if result.metrics:
        lines.append("  counters " + ", ".join(f"{k} {v}" for k, v in result.metrics.items()))
    lines.append(f"  registry {m['registry_id'][:16]}  policy {m['policy_id'][:16]}")
    lines.append(f"  output   {result.output}/  (" + ", ".join(
        [*(f"{k}/ {v} file{'s' if v != 1 else ''}" for k, v in per_folder.items()), MANIFEST])
        + ")")
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


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run(argv)
    except UsageError as exc:
        print(f"clearcrawl run: {exc}", file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"clearcrawl run: {exc}", file=sys.stderr)
        return 1
    print(format_summary(result))
    return 0
