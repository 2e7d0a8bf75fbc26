"""Verify the previous output: what `audit verify` checks of a finished output, as steps
of refilter's graph, so that no process reads the whole output (its launcher checks
only what needs no file's content: audit.verify.check_manifest).

    each listed file     -> its sha256 and row count against the manifest (problems)
    each ledger file     -> its rows' tally and the (registry_id, policy_id) they name,
                            and their Merkle leaves by bucket
    leaves, by bucket    -> bucket roots (a GroupByKey: memory bounded per bucket)

The commit step then judges the sums against the manifest's claims
(audit.verify.judge_ledger) and refuses to write a manifest if anything differs.
"""

from __future__ import annotations

import apache_beam as beam

from clearcrawl.audit.hashing import bucket_of
from clearcrawl.audit.manifest import LedgerTally, receipt_tally
from clearcrawl.audit.verify import (
    check_listed_file,
    judge_ledger,
    ledger_paths,
    tally_ledger_table,
)
from clearcrawl.beam.commit import BucketRoots
from clearcrawl.beam.outputs import open_uri
from clearcrawl.beam.shuffle_check import ShuffleCounts
from clearcrawl.io.parquet import iter_row_groups

PROBLEMS, TALLIES, ROOTS = "previous_problems", "previous_tallies", "previous_roots"
LEAVES = "leaves"


class VerifyPrevious(beam.PTransform):
    """pipeline -> {PROBLEMS: str per mismatching file, TALLIES: {decisions,
    removed_by_kind, ids} per ledger file, ROOTS: (bucket, (root, rows, repeated))}
    of the finished output at `root` whose manifest is `manifest`. The file lists are
    spread by checked reshuffles (`shuffles`): a file lost there would go unchecked."""

    def __init__(self, root: str, manifest: dict, shuffles: ShuffleCounts):
        super().__init__()
        self._root = root.rstrip("/")
        self._manifest = manifest
        self._shuffles = shuffles

    def expand(self, pipeline):
        root = self._root
        listed = pipeline | "ListPreviousFiles" >> beam.Create(
            self._manifest.get("outputs", []), reshuffle=False)
        problems = (self._shuffles.reshuffle("SpreadPreviousFiles", listed)
                    | "CheckPreviousFiles" >> beam.FlatMap(
                        lambda entry: check_listed_file(root, entry, open_uri)))
        ledgers = pipeline | "ListPreviousLedger" >> beam.Create(ledger_paths(self._manifest),
                                                                 reshuffle=False)
        tallied = (self._shuffles.reshuffle("SpreadPreviousLedger", ledgers)
                   | "TallyPreviousLedger" >> beam.ParDo(_TallyLedgerFn(root)).with_outputs(
                       LEAVES, main="tallies"))
        roots = tallied[LEAVES] | "PreviousBucketRoots" >> BucketRoots(
            self._shuffles, "GroupPreviousBuckets")
        return {PROBLEMS: problems, TALLIES: tallied.tallies, ROOTS: roots}


class _Leaves:
    """A LedgerTally's root: the (doc_id, leaf) pairs of a row group, by bucket."""

    def __init__(self):
        self.by_bucket: dict[int, list[tuple[str, bytes]]] = {}

    def add(self, doc_id: str, leaf: bytes) -> None:
        self.by_bucket.setdefault(bucket_of(doc_id), []).append((doc_id, leaf))

    def drain(self) -> list[tuple[int, list[tuple[str, bytes]]]]:
        drained, self.by_bucket = sorted(self.by_bucket.items()), {}
        return drained


class _TallyLedgerFn(beam.DoFn):
    """Relative ledger path -> its tally (main) and, tagged LEAVES, its rows' leaves by
    bucket, one row group at a time."""

    def __init__(self, root: str):
        self._root = root

    def process(self, rel: str):
        leaves = _Leaves()
        tally, ids = LedgerTally(leaves), set()
        with open_uri(f"{self._root}/{rel}") as fh:
            for table in iter_row_groups(fh):
                ids |= tally_ledger_table(table, tally)
                for item in leaves.drain():
                    yield beam.pvalue.TaggedOutput(LEAVES, item)
        yield {"decisions": dict(tally.decisions), "removed_by_kind": dict(tally.by_kind),
               "ids": sorted(ids)}


def previous_problems(manifest: dict, found: dict[str, list]) -> list[str]:
    """Every mismatch VerifyPrevious's outputs (`found`, by name) show against the
    previous output's `manifest`: its files' first, then the recomputed ledger's."""
    problems = sorted(found[PROBLEMS])
    tally = LedgerTally()
    ids: set[tuple[str, str]] = set()
    for part in found[TALLIES]:
        tally.merge(receipt_tally(part))
        ids |= {tuple(pair) for pair in part["ids"]}
    if any(p.startswith("ledger/") for p in problems):
        return problems  # as audit verify: a damaged ledger's recomputation says no more
    return problems + judge_ledger(manifest, tally.counts(), dict(found[ROOTS]), ids)
