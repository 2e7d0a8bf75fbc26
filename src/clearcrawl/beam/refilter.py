"""`clearcrawl refilter`: apply a newer registry to a finished output, without the crawl.

Each document is re-decided from the previous output alone: its ledger row (URL,
signals read from the crawl), its kept text (data/) and its signature
(signatures/). Domain rules are matched on the URL, new works on the kept text,
and removals spread to near-duplicates through the signatures, exactly as in a
run. The new output has the same contract as a run's; its manifest names the
previous run and counts the changes, and its changes/ and restorable/ folders list
every document whose decision or reasons changed, and those a newer robots store
allows again but whose text is gone.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

import apache_beam as beam
import numpy as np

from clearcrawl import reasons
from clearcrawl.audit.auditing import NotAnOutput, open_run
from clearcrawl.audit.hashing import bucket_of
from clearcrawl.audit.manifest import EVERY_FOLDER, KEPT_TO_REMOVED, REGISTRY_SNAPSHOT, run_id_for
from clearcrawl.audit.verify import check_manifest, listed_rows, verify_output
from clearcrawl.beam import outputs
from clearcrawl.beam.arguments import (
    REFILTER_WORKER_PATHS,
    build_refilter_parser,
    local_worker_path,
)
from clearcrawl.beam.commit import ACCOUNTING_FAILED, CommitOutput, CommitPlan, refusal_in
from clearcrawl.beam.config import RunConfig
from clearcrawl.beam.crawl_robots import PairWithCrawlRobots
from clearcrawl.beam.decide import Decide
from clearcrawl.beam.outputs import open_uri
from clearcrawl.beam.pipeline import (
    PreparedRun,
    RunFailed,
    RunResult,
    UsageError,
    format_summary,
    raise_refused_commit,
    robots_store_option,
    stage_snapshot,
)
from clearcrawl.beam.propagate_removals import PropagateRemovals
from clearcrawl.beam.robots_store_join import ApplyNewerStoreFn, ReadRobotsStore
from clearcrawl.beam.runner import join_shards, make_pipeline
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.beam.verify_previous import VerifyPrevious, previous_problems
from clearcrawl.beam.workers import in_global_window, load_snapshot
from clearcrawl.beam.write_outputs import WriteOutputs
from clearcrawl.core.minhash import fingerprint
from clearcrawl.core.policy import sort_evidence
from clearcrawl.core.urls import origin_of, split_url
from clearcrawl.core.works import DocPrint, WorkMatcher, WorkSet
from clearcrawl.io.parquet import parquet_file
from clearcrawl.records import (
    Decided,
    Document,
    Evidence,
    PreviousDecision,
    PreviousRows,
    ReadFailure,
)
from clearcrawl.registry.compare import added_entries, refilter_problems
from clearcrawl.registry.load import load_registry
from clearcrawl.registry.snapshot import InvalidRegistry

# Read from the crawl record (or from registry files that refilter requires unchanged).
CRAWL_SIGNAL_KINDS = frozenset({reasons.ROBOTS_CRAWL_TIME, reasons.ROBOTS_CURRENT,
                                reasons.TDMREP, reasons.NOAI, reasons.AI_TXT,
                                reasons.CONTENT_USAGE})
WORK_KINDS = frozenset({reasons.WORK_EXACT, reasons.WORK_NEAR_DUPLICATE})


# The previous output's folders joined by doc_id, by the name RoutePreviousFn reads
# them as. Data rows are joined by where their text is, not by value: texts never
# cross a shuffle, which a local runner holds in memory. A text's place is (data file,
# row group). A document without text (removed, or unreadable) has no file and one of
# _NO_TEXT_GROUPS groups by its doc_id: it crosses JoinTexts too (~1.7 KB) rather than
# meet the others in a Flatten, which a local runner would materialise, texts and all.
JOINED_FOLDERS = {"ledger": "ledger", "data": "data", "signature": "signatures",
                  "error": "errors"}
TEXTS = "texts"  # data rows whose text RefilterFn gave back to their document
JOINED = "joined"  # rows RoutePreviousFn received, by input, and texts given back, per bundle
_TEXT_COLUMNS = ["doc_id", "text", "crawl"]
_NO_TEXT_GROUPS = 1 << 16  # a dump's billion removed documents: ~15,000 a group


def _text_places(uri: str):
    """(doc_id, (uri, row group)) of each row of a previous data file, from its doc_id
    column alone."""
    with parquet_file(uri, open_uri) as parquet:
        for group in range(parquet.num_row_groups):
            ids = parquet.read_row_group(group, columns=["doc_id"], use_threads=False)
            place = uri, group
            for doc_id in ids.column(0).to_pylist():
                yield doc_id, place


class RoutePreviousFn(beam.DoFn):
    """(doc_id, {ledger, data, signature, error}) -> ((uri, row group), PreviousRows):
    each document's rows sent to where its text is. Tagged JOINED: how many rows of each
    input it received, per bundle (join_losses). A document whose rows are not all
    there (one ledger row; an error row if it was an error) goes no further: the counts
    say what was lost, and the commit refuses."""

    def start_bundle(self):
        self._joined = dict.fromkeys(JOINED_FOLDERS, 0)

    def finish_bundle(self):
        if any(self._joined.values()):
            yield beam.pvalue.TaggedOutput(JOINED, in_global_window(self._joined))

    def process(self, grouped):
        doc_id, joined = grouped
        for name in JOINED_FOLDERS:
            self._joined[name] += len(joined[name])
        if len(joined["ledger"]) != 1:
            return
        [row] = joined["ledger"]
        error = next(iter(joined["error"]), None)
        if row["decision"] == reasons.ERROR and error is None:
            return
        place = joined["data"][0] if joined["data"] else ("", bucket_of(doc_id, _NO_TEXT_GROUPS))
        yield place, PreviousRows(row, next(iter(joined["signature"]), None), error)


class RefilterFn(beam.DoFn):
    """((uri, row group), [PreviousRows]) -> each document Decided, its text read from its
    row group (the group's documents are all a worker holds), or for a record that
    could not be read, its ReadFailure again (so its ledger and error rows are
    rebuilt exactly as in a run, with the new registry's ids). Tagged JOINED: how
    many texts it gave back, per bundle (join_losses).

    Domain rules are matched again on the URL. Works: every previous work match
    still holds (refilter requires a registry that only grew), so only the added
    works are searched, with the stored band and anchor keys; a document's text
    is fingerprinted only when one of them is a candidate. Near-duplicates of
    removed documents are recomputed afterwards from the stored signatures.
    """

    def __init__(self, snapshot_uri: str, added_works: list[str]):
        self._snapshot_uri = snapshot_uri
        self._added_works = set(added_works)

    def setup(self):
        snapshot = load_snapshot(self._snapshot_uri)
        self._index = snapshot.domain_index
        self._params = snapshot.matching
        # Streamed one works file at a time; only the added works are kept.
        added = ([r for r in snapshot.work_records() if r["entry_id"] in self._added_works]
                 if self._added_works else [])
        self._matcher = (WorkMatcher(WorkSet.from_records(self._params, added),
                                     snapshot.policy.near_duplicate_threshold)
                         if added else None)

    def start_bundle(self):
        self._texts = 0

    def finish_bundle(self):
        if self._texts:
            yield beam.pvalue.TaggedOutput(JOINED, in_global_window({TEXTS: self._texts}))

    def process(self, grouped):
        (uri, group), documents = grouped
        if not uri:
            for previous in documents:
                yield self._decided(previous, None)
            return
        waiting = {previous.ledger["doc_id"]: previous for previous in documents}
        with parquet_file(uri, open_uri) as parquet:
            texts = parquet.read_row_group(group, columns=_TEXT_COLUMNS, use_threads=False)
        for data in texts.to_pylist():
            previous = waiting.pop(data["doc_id"], None)
            if previous is not None:  # a text not given back is counted short
                self._texts += 1
                yield self._decided(previous, data)

    def _decided(self, previous: PreviousRows, data: dict | None) -> Decided | ReadFailure:
        row, signed = previous.ledger, previous.signature
        if row["decision"] == reasons.ERROR:
            error = previous.error
            return ReadFailure(row["doc_id"], error["source_uri"], error["source_offset"],
                               error["error_kind"], error["message"], row["url"])
        parts = split_url(row["url"])
        doc = Document(row["doc_id"], row["url"], parts.host, row["registered_domain"],
                       row["fetch_time"], (), None, "", data["text"] if data else "",
                       row["text_sha256"], row["text_bytes"], row["source_uri"],
                       row["source_offset"], data["crawl"] if data else None,
                       origin=origin_of(parts))
        carried = [Evidence(**r) for r in row["reasons"]
                   if r["kind"] in CRAWL_SIGNAL_KINDS or r["kind"] in WORK_KINDS]
        evidence = carried + self._index.match(doc.url, doc.host)
        if signed is not None and self._matcher is not None and data is not None:
            evidence += self._added_work_matches(doc, signed)
        return Decided(doc, tuple(sort_evidence(evidence)), row["license"],
                       signed["signature"] if signed else b"",
                       shingle_count=signed["shingle_count"] if signed else 0,
                       previous=PreviousDecision(row["decision"], row["reasons"]))

    def _added_work_matches(self, doc: Document, signed: dict) -> list[Evidence]:
        signature = np.frombuffer(signed["signature"], "<u4")[None, :]
        anchors = [np.frombuffer(signed["anchors"] or b"", "<u8")]
        if not self._matcher.candidates_by_keys(signature, anchors):
            return []
        return self._matcher.match(DocPrint(doc.doc_id, fingerprint(doc.text, self._params),
                                            doc.text))


def _read(pipeline, label: str, root: str, paths: list[str]):
    return (pipeline
            | f"List{label}" >> beam.Create([f"{root}/{p}" for p in paths])
            | f"Read{label}" >> beam.io.ReadAllFromParquet())


# Begins the commit step's error when the previous output does not verify.
REFUSED = "the previous output does not verify, no manifest written: "


class PreviousDoesNotVerify(RuntimeError):
    pass


def join_losses(manifest: dict, joined: list[dict]) -> str:
    """What the join by doc_id lost, '' if nothing: every row of the previous output's
    ledger, data, signatures and errors files (as its manifest counts them) must have
    reached RoutePreviousFn, and every data row's text its document (RefilterFn). A runner
    that drops shuffled rows would otherwise restore a document silently (Beam's local
    multi-worker runner drops some beyond ~1 GB of shuffled rows; docs/scale.md)."""
    lost, rows = [], listed_rows(manifest)
    for name, folder in JOINED_FOLDERS.items():
        listed = rows[folder]
        received = sum(part.get(name, 0) for part in joined)
        if received != listed:
            lost.append(f"{folder}/ has {listed} rows but the join by doc_id passed on "
                        f"{received}")
    texts = sum(part.get(TEXTS, 0) for part in joined)
    if texts != rows["data"]:
        lost.append(f"data/ has {rows['data']} rows but {texts} texts were given back to "
                    "their documents")
    return "; ".join(lost)


@dataclass(frozen=True)
class DescribeChanges:
    """The manifest's `previous` and `changes` blocks, made in the commit step: the
    changes are counted from the receipts of the output sets, whose changes/ and
    restorable/ files list the documents. First, the previous output (`claims`: its
    manifest) is judged by what VerifyPrevious found, and nothing is committed on a
    previous output that does not verify."""

    previous: dict
    added: dict
    claims: dict

    def __call__(self, found: dict[str, list], receipts: dict[str, dict]) -> dict:
        problems = previous_problems(self.claims, found)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise PreviousDoesNotVerify(REFUSED + problems[0] + more)
        lost = join_losses(self.claims, found[JOINED])
        if lost:
            raise RuntimeError(ACCOUNTING_FAILED + lost)

        def rows(folder: str) -> int:
            return sum(r["files"][folder]["rows"] for r in receipts.values())

        return {"previous": self.previous,
                "changes": {"added_entries": self.added,
                            "documents_changed": rows("changes"),
                            "kept_to_removed": sum(r[KEPT_TO_REMOVED]
                                                   for r in receipts.values()),
                            "documents_restorable": rows("restorable")}}


def prepare_refilter(argv: list[str] | None = None) -> PreparedRun:
    """Check the arguments and the previous output, prepare the output folder, build the
    graph, whose last step writes the manifest (changes included)."""
    args, beam_args = build_refilter_parser().parse_known_args(argv)
    refusal = local_worker_path(args, beam_args, REFILTER_WORKER_PATHS)
    if refusal:
        raise UsageError(refusal)
    previous_root = args.previous.rstrip("/")
    # What needs no file's content; the files and the ledger are verified in the graph.
    _, problems = check_manifest(previous_root, open_uri, outputs.list_files)
    if problems:
        raise UsageError(f"{previous_root} does not verify, refusing to build on it: "
                         f"{problems[0]}")
    try:
        prev = open_run(previous_root, open_uri)
        snapshot = load_registry(args.registry, lambda uri: open_uri(uri).read())
    except (NotAnOutput, InvalidRegistry) as exc:
        raise UsageError(str(exc)) from None
    old_snapshot = prev.snapshot()
    blockers = refilter_problems(old_snapshot, snapshot)
    if blockers:
        raise UsageError("refilter only applies registries that add entries; run "
                         "`clearcrawl run` again instead: " + "; ".join(blockers))
    added = added_entries(old_snapshot, snapshot)  # a merge over both registries' works
    manifest = prev.manifest
    options = {**manifest["options"], "refilter_of": manifest["run_id"]}
    if args.robots_store:  # a newer store replaces the older one's decisions
        options["robots_store"] = robots_store_option(args.robots_store)
    run_id = run_id_for(manifest["inputs"], snapshot.registry_id, snapshot.policy_id, options)
    root = args.output.rstrip("/")
    try:
        outputs.prepare_output(root, args.overwrite)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    staging = outputs.join(root, outputs.STAGING)
    snapshot_uri = outputs.join(staging, REGISTRY_SNAPSHOT)
    stage_snapshot(snapshot, snapshot_uri)

    # One local process unless asked: its joins shuffle every ledger and signature row,
    # and Beam's local multi-worker runner drops rows of large shuffles (join_losses).
    pipeline, beam_options, is_local = make_pipeline(beam_args, len(prev.paths("ledger")),
                                                     local_processes=False)
    # Propagation as the previous run had it; works are matched by RefilterFn (only the
    # added ones), so the strategy plays no part. The shard count changes no row: this
    # run's own runner chooses it.
    config = RunConfig(snapshot_uri, staging,
                       propagate=manifest["options"].get("propagate", True),
                       match_shards=join_shards(None, beam_options, is_local),
                       robots_store=args.robots_store,
                       store_label=options.get("robots_store", {}).get("label", ""),
                       robots_unreachable_is_optout=snapshot.policy.robots_unreachable_is_optout,
                       write_changes=True)
    plan = CommitPlan(root, run_id, snapshot.registry_id, snapshot.policy_id,
                      snapshot.policy.as_dict(), manifest["inputs"], options,
                      {"match_strategy": "broadcast", "refilter": True}, time.time(),
                      folders=EVERY_FOLDER)
    describe = DescribeChanges(
        {"run_id": manifest["run_id"], "path": previous_root,
         "ledger_root": manifest["ledger_root"], "registry_id": manifest["registry_id"],
         "manifest_digest": manifest.get("manifest_digest")}, added, manifest)
    _build(pipeline, config, prev, previous_root, added, manifest["counts"]["read"], plan,
           describe)
    return PreparedRun(pipeline, plan, is_local, False, None, len(prev.paths("ledger")))


def _build(pipeline, config: RunConfig, prev, previous_root: str, added: dict,
           records: int, plan: CommitPlan, describe: DescribeChanges) -> None:
    """The refilter graph: the previous output verified and its rows joined by doc_id
    and re-decided, then the run's tail, step for step (each document carries its
    previous decision, so each output set also lists its changes), and the commit with
    the changes counted. The join by doc_id is checked against the previous manifest
    (join_losses), the others as a run's are (ShuffleCounts)."""
    shuffles = ShuffleCounts()
    keyed = {name: (_read(pipeline, name.capitalize(), previous_root, prev.paths(folder))
                    | f"Key{name.capitalize()}" >> beam.Map(lambda r: (r["doc_id"], r)))
             for name, folder in JOINED_FOLDERS.items() if name != "data"}
    keyed["data"] = (pipeline
                     | "ListData" >> beam.Create(
                         [f"{previous_root}/{p}" for p in prev.paths("data")])
                     | "PlaceTexts" >> beam.FlatMap(_text_places))
    routed = (keyed
              | "JoinByDoc" >> beam.CoGroupByKey()
              | "RoutePrevious" >> beam.ParDo(RoutePreviousFn()).with_outputs(
                  JOINED, main="routed"))
    refiltered = (shuffles.group_by_key("JoinTexts", routed.routed)
                  | "Refilter" >> beam.ParDo(RefilterFn(
                      config.snapshot_uri, added["works"])).with_outputs(JOINED, main="decided"))
    decided = refiltered.decided | "Batch" >> beam.BatchElements(min_batch_size=64,
                                                                  max_batch_size=1024)
    if config.robots_store:
        store = pipeline | "ReadRobotsStore" >> ReadRobotsStore(
            config.robots_store, config.robots_unreachable_is_optout)
        decided = (decided
                   | "PairWithStore" >> PairWithCrawlRobots(
                       None, config.staging, shuffles, store=store,
                       store_label=config.store_label)
                   | "ApplyNewerStore" >> beam.ParDo(ApplyNewerStoreFn(config.snapshot_uri)))
    written = (decided
               | "Decide" >> Decide(config)
               | "PropagateRemovals" >> PropagateRemovals(config, shuffles)
               | "WriteOutputs" >> WriteOutputs(config))
    verified = pipeline | "VerifyPrevious" >> VerifyPrevious(previous_root, describe.claims,
                                                             shuffles)
    _ = ({"receipts": written["receipts"], "leaves": written["leaves"],
          "reads": pipeline | "PreviousReads" >> beam.Create([records]),
          JOINED: (routed[JOINED], refiltered[JOINED]) | "AllJoined" >> beam.Flatten(),
          **verified}
         | "CommitOutput" >> CommitOutput(plan, shuffles, describe))


def refilter(argv: list[str] | None = None) -> RunResult:
    prepared = prepare_refilter(argv)
    try:
        prepared.pipeline.run().wait_until_finish()
    except Exception as exc:  # noqa: BLE001 - runners wrap a step's error in their own
        previous = build_refilter_parser().parse_known_args(argv)[0].previous.rstrip("/")
        problem = refusal_in(exc, REFUSED)
        if problem is None:
            # A runner's loss: exit 1, the previous output is not to blame.
            raise_refused_commit(exc, prepared.pipeline, prepared.is_local)
            # A file too damaged to read, or a ledger whose rows cannot be joined, fails
            # a step before the commit can judge it: say why, as audit verify would.
            problems = verify_output(previous, open_uri, outputs.list_files)
            if not problems:
                raise
            problem = problems[0]
        outputs.delete_tree(outputs.join(prepared.plan.root, outputs.STAGING))
        raise UsageError(f"{previous} does not verify, refusing to build on it: "
                         f"{problem}") from None
    # The graph's last step wrote the manifest; the launcher only reads it.
    return RunResult(prepared.plan.root, outputs.read_manifest(prepared.plan.root))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = refilter(argv)
    except UsageError as exc:
        print(f"clearcrawl refilter: {exc}", file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"clearcrawl refilter: {exc}", file=sys.stderr)
        return 1
    print(format_summary(result))
    changes = result.manifest["changes"]
    print(f"  changed  {changes['documents_changed']:>8} documents vs run "
          f"{result.manifest['previous']['run_id']} ({changes['kept_to_removed']} newly removed)")
    if changes["documents_restorable"]:
        print(f"  restorable {changes['documents_restorable']:>6} documents the newer robots "
              "store allows again stay removed (their text is not in the output; "
              "restorable/ lists them)")
    return 0
