"""Checked shuffles: a shuffle that loses or repeats rows stops the commit.

A runner's loss is staged (tests/shuffle_faults.py) with a stand-in for the shuffle that
drops (or repeats) one element of one input before the real one, inside real Beam
pipelines."""

from __future__ import annotations

import os
import re

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from clearcrawl.beam import pipeline as run_pipeline
from clearcrawl.beam.commit import ACCOUNTING_FAILED, refusal_in
from clearcrawl.beam.runner import in_several_local_workers, local_workers
from clearcrawl.beam.shuffle_check import (
    RECEIVED,
    SENT,
    MergeCounted,
    ShuffleCounts,
    shuffle_losses,
)
from tests.conftest import BUNDLED_REGISTRY, local_pipeline
from tests.shuffle_faults import Skewed, skew_shuffle, skew_side_input


def _assert_losses(build, expected: list[str]) -> None:
    """shuffle_losses of the pipeline whose checked shuffle `build(p, shuffles)` makes
    are `expected`, from counts of both sides."""
    with local_pipeline() as p:
        shuffles = ShuffleCounts()
        build(p, shuffles)
        assert_that(shuffles.tallies(p) | beam.combiners.ToList() | beam.Map(
                        lambda tallies: (shuffle_losses(tallies),
                                         sorted({side for _, _, side, _ in tallies}))),
                    equal_to([(expected, [RECEIVED, SENT])]))


def _join(p, shuffles, stand_in=None):
    left = p | "Left" >> beam.Create([("a", 1), ("b", 2), ("b", 3)])
    right = p | "Right" >> beam.Create([("b", "x"), ("c", "y")])
    return shuffles.co_group_by_key("JoinSides", {"left": left, "right": right}, stand_in)


def _group(p, shuffles, stand_in=None):
    keyed = p | beam.Create([(k % 3, k) for k in range(10)])
    return shuffles.group_by_key("GroupThree", keyed, stand_in)


def _combine(p, shuffles, stand_in=None):
    keyed = p | beam.Create([(k % 3, k) for k in range(300)])
    return shuffles.combine_per_key("SumThree", keyed, sum, stand_in)


def _combine_sums() -> beam.PTransform:
    return beam.CombinePerKey(MergeCounted(sum))


def _spread(p, shuffles, stand_in=None):
    return shuffles.reshuffle("SpreadUris", p | beam.Create([f"u{i}" for i in range(5)]),
                              stand_in)


@pytest.mark.parametrize("build, shuffle, name, expected", [
    (_join, beam.CoGroupByKey, "left", "{} of the 3 elements given to JoinSides as 'left'"),
    (_join, beam.CoGroupByKey, "right", "{} of the 2 elements given to JoinSides as 'right'"),
    (_group, beam.GroupByKey, None, "{} of the 10 elements given to GroupThree"),
    (_spread, beam.Reshuffle, None, "{} of the 5 elements given to SpreadUris"),
    (_combine, _combine_sums, None, "{} of the 300 elements given to SumThree"),
])
def test_a_shuffle_that_loses_or_repeats_an_element_is_named(build, shuffle, name, expected):
    _assert_losses(build, [])  # the runner's own shuffle: nothing lost
    sent = int(expected.split(" of the ")[1].split()[0])
    for change in (-1, +1):
        _assert_losses(lambda p, shuffles, change=change: build(
                           p, shuffles, Skewed(shuffle, change, name)),
                       [f"the runner passed on {expected.format(sent + change)}"])


def test_the_join_still_joins():
    with local_pipeline() as p:
        joined = _join(p, ShuffleCounts())
        assert_that(joined | beam.MapTuple(lambda key, sides: (
                        key, sorted(sides["left"]), sorted(sides["right"]))),
                    equal_to([("a", [1], []), ("b", [2, 3], ["x"]), ("c", [], ["y"])]))


def test_a_counted_combine_still_combines_and_counts_what_it_merged():
    """100 values a key over several bundles: Beam's combiner lifting merges partial
    results (CallableWrapperCombineFn compacts every 10 inputs), each with its count."""
    with local_pipeline() as p:
        combined = _combine(p, ShuffleCounts())
        assert_that(combined, equal_to([(k, sum(range(k, 300, 3))) for k in range(3)]))
    fn = beam.CombineFn.maybe_from_callable(MergeCounted(sum))
    parts = []
    for start in (0, 37, 80):
        accumulator = fn.create_accumulator()
        for value in range(start, start + 37):
            accumulator = fn.add_input(accumulator, (value, 1))
        parts.append(fn.compact(accumulator))
    assert fn.extract_output(fn.merge_accumulators(parts)) == (
        sum(range(0, 37)) + sum(range(37, 74)) + sum(range(80, 117)), 111)


def test_a_shuffle_checked_twice_or_after_the_tallies_is_refused_when_built():
    with pytest.raises(ValueError, match="checked twice"):
        with local_pipeline() as p:
            shuffles = ShuffleCounts()
            shuffles.reshuffle("Spread", p | "One" >> beam.Create([1]))
            shuffles.reshuffle("Spread", p | "Two" >> beam.Create([2]))
    with pytest.raises(ValueError, match="after the tallies were taken"):
        with local_pipeline() as p:
            shuffles = ShuffleCounts()
            shuffles.tallies(p)
            shuffles.reshuffle("Late", p | "Three" >> beam.Create([3]))


@pytest.mark.parametrize("error", [
    # as Beam's in-process runner raises it, the step named after the text
    RuntimeError("accounting check failed, no manifest written: the runner passed on 1 of "
                 "the 2 elements given to JoinFiles as 'file' [while running 'CommitOutput/"
                 "Commit']"),
    # as a remote runner reports it: a traceback's text inside its own error
    Exception("Workflow failed. Causes: Traceback (most recent call last):\n  File "
              "\"commit.py\", line 9, in process\nRuntimeError: accounting check failed, "
              "no manifest written: the runner passed on 1 of the 2 elements given to "
              "JoinFiles as 'file'\n"),
])
def test_the_commit_refusal_is_found_in_what_the_runner_raised(error):
    assert refusal_in(error, ACCOUNTING_FAILED) == (
        "the runner passed on 1 of the 2 elements given to JoinFiles as 'file'")
    assert refusal_in(RuntimeError("something else failed"), ACCOUNTING_FAILED) is None


def test_a_count_that_never_arrives_is_named():
    expected = [("JoinSides", "left", SENT), ("JoinSides", "left", RECEIVED)]
    assert shuffle_losses([("JoinSides", "left", SENT, 3), ("JoinSides", "left", RECEIVED, 3)],
                          expected) == []
    assert shuffle_losses([("JoinSides", "left", SENT, 0)], expected) == [
        "no count arrived of the elements JoinSides passed on as 'left'"]


@pytest.mark.parametrize("flags, several", [
    ([], False),  # Beam's default: one worker
    (["--direct_num_workers", "1", "--direct_running_mode", "multi_processing"], False),
    (["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"], True),
    (["--direct_num_workers", "2", "--direct_running_mode", "multi_threading"], True),
    (["--direct_num_workers", "0"], os.cpu_count() > 1),  # 0: one a core
])
def test_several_local_workers_are_told_apart(flags, several):
    assert in_several_local_workers(PipelineOptions(flags)) is several


@pytest.mark.parametrize("method, label, change, name, flags", [
    ("co_group_by_key", "JoinOrigins", -1, "files", []),  # an origin never meets its capture
    ("co_group_by_key", "JoinFiles", -1, "captures", []),  # captures never reach a spill file
    ("group_by_key", "GroupShards", +1, None, []),  # propagation's band keys, a block twice
    ("reshuffle", "SpreadShards", -1, None, ["--direct_num_workers", "1"]),  # a file unread
    ("group_by_key", "GroupBuckets", -1, None, []),  # a ledger bucket's leaves
    ("as_list", "CommitReceipts", -1, None, []),  # a side input of the commit step
])
def test_a_run_whose_shuffle_skews_writes_no_manifest(synthetic_crawl, tmp_path, capsys,
                                                      monkeypatch, method, label, change,
                                                      name, flags):
    """The real run, its graph built with one shuffle that loses or repeats a row: the
    commit refuses, the command exits 1 naming the shuffle, and no manifest is written.
    A plain run of two files uses two worker processes where there are two cores: then
    the line also advises one, where Beam's local runner was seen losing rows."""
    if method == "as_list":
        skew_side_input(monkeypatch, label)
    else:
        skew_shuffle(monkeypatch, method, label, change, name)
    out = tmp_path / "out"
    code = run_pipeline.main(["--input", str(synthetic_crawl / "*.warc.gz"),
                              "--robots", str(synthetic_crawl / "robots" / "*.warc.gz"),
                              "--registry", str(BUNDLED_REGISTRY), "--output", str(out),
                              *flags])
    err = capsys.readouterr().err
    assert code == 1, err
    assert re.fullmatch(r"clearcrawl run: accounting check failed, no manifest written: the "
                        rf"runner passed on \d+ of the \d+ elements given to {label}.*\n",
                        err), err
    assert ("run again, with --direct_num_workers 1" in err) == (
        not flags and local_workers(2) > 1)
    assert not (out / "manifest.json").exists()
