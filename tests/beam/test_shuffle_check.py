"""Checked shuffles: a shuffle that loses or repeats rows stops the commit.

A runner's loss is staged with a stand-in for the shuffle that drops (or repeats) one
element of one input before the real one, inside real Beam pipelines."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from clearcrawl.beam import pipeline as run_pipeline
from clearcrawl.beam.shuffle_check import MergeCounted, ShuffleCounts, shuffle_losses
from tests.beam.test_transforms import _pipeline
from tests.conftest import BUNDLED_REGISTRY


def _skew(pcoll, change: int):
    """The PCollection with its first element (in sorted order) dropped (-1) or
    repeated (+1)."""
    def skewed(elements):
        ordered = sorted(elements, key=repr)
        return ordered[1:] if change < 0 else ordered[:1] + ordered

    return pcoll | "All" >> beam.combiners.ToList() | "Skew" >> beam.FlatMap(skewed)


class _Skewed(beam.PTransform):
    """A stand-in for a runner's shuffle that loses (change -1) or repeats (+1) one
    element: of input `name` for a CoGroupByKey, of its one input otherwise."""

    def __init__(self, shuffle: type[beam.PTransform], change: int, name: str | None = None):
        super().__init__()
        self._shuffle, self._change, self._name = shuffle, change, name

    def expand(self, given):
        if self._name is None:
            return _skew(given, self._change) | "Shuffle" >> self._shuffle()
        skewed = {**given, self._name: _skew(given[self._name], self._change)}
        return skewed | "Shuffle" >> self._shuffle()


def _assert_losses(build, expected: list[str]) -> None:
    """shuffle_losses of the pipeline whose checked shuffle `build(p, shuffles)` makes
    are `expected`."""
    with _pipeline() as p:
        shuffles = ShuffleCounts()
        build(p, shuffles)
        assert_that(shuffles.tallies(p) | beam.combiners.ToList() | beam.Map(shuffle_losses),
                    equal_to([expected]))


def _join(p, shuffles, stand_in=None):
    left = p | "Left" >> beam.Create([("a", 1), ("b", 2), ("b", 3)])
    right = p | "Right" >> beam.Create([("b", "x"), ("c", "y")])
    return shuffles.co_group_by_key("JoinSides", {"left": left, "right": right}, stand_in)


def _group(p, shuffles, stand_in=None):
    keyed = p | beam.Create([(k % 3, k) for k in range(10)])
    return shuffles.group_by_key("GroupThree", keyed, stand_in)


def _combine(p, shuffles, stand_in=None):
    keyed = p | beam.Create([(k % 3, k) for k in range(10)])
    return shuffles.combine_per_key("SumThree", keyed, sum, stand_in)


def _combine_sums() -> beam.PTransform:
    return beam.CombinePerKey(MergeCounted(sum))


def _spread(p, shuffles, stand_in=None):
    return shuffles.reshuffle("SpreadUris", p | beam.Create([f"u{i}" for i in range(5)]),
                              stand_in)


@pytest.mark.parametrize("build, shuffle, name, expected", [
    (_join, beam.CoGroupByKey, "left", "JoinSides passed on {} of the 3 elements it was "
                                       "given as 'left'"),
    (_join, beam.CoGroupByKey, "right", "JoinSides passed on {} of the 2 elements it was "
                                        "given as 'right'"),
    (_group, beam.GroupByKey, None, "GroupThree passed on {} of the 10 elements it was given"),
    (_spread, beam.Reshuffle, None, "SpreadUris passed on {} of the 5 elements it was given"),
    (_combine, _combine_sums, None, "SumThree passed on {} of the 10 elements it was given"),
])
def test_a_shuffle_that_loses_or_repeats_an_element_is_named(build, shuffle, name, expected):
    _assert_losses(build, [])  # the runner's own shuffle: nothing lost
    sent = int(expected.split(" of the ")[1].split()[0])
    for change in (-1, +1):
        _assert_losses(lambda p, shuffles, change=change: build(
                           p, shuffles, _Skewed(shuffle, change, name)),
                       [f"the runner's shuffle {expected.format(sent + change)}"])


def test_the_join_still_joins():
    with _pipeline() as p:
        joined = _join(p, ShuffleCounts())
        assert_that(joined | beam.MapTuple(lambda key, sides: (
                        key, sorted(sides["left"]), sorted(sides["right"]))),
                    equal_to([("a", [1], []), ("b", [2, 3], ["x"]), ("c", [], ["y"])]))


def test_a_counted_combine_still_combines():
    with _pipeline() as p:
        assert_that(_combine(p, ShuffleCounts()), equal_to([(0, 18), (1, 12), (2, 15)]))


def test_a_shuffle_checked_twice_is_refused_when_the_graph_is_built():
    with pytest.raises(ValueError, match="checked twice"):
        with _pipeline() as p:
            shuffles = ShuffleCounts()
            shuffles.reshuffle("Spread", p | "One" >> beam.Create([1]))
            shuffles.reshuffle("Spread", p | "Two" >> beam.Create([2]))


@pytest.mark.parametrize("label, change, name", [
    ("JoinOrigins", -1, "files"),     # a page's origin never meets its robots.txt capture
    ("JoinFiles", -1, "captures"),    # captures never brought to a spill file
    ("GroupShards", +1, None),        # propagation's band keys, one block twice
])
def test_a_run_whose_shuffle_skews_writes_no_manifest(synthetic_crawl, tmp_path, capsys,
                                                      monkeypatch, label, change, name):
    """The real run, its graph built with one shuffle that loses or repeats a row: the
    commit refuses, the command exits 1 naming the shuffle, and no manifest is written."""
    checked = {"JoinOrigins": ShuffleCounts.co_group_by_key,
               "JoinFiles": ShuffleCounts.co_group_by_key,
               "GroupShards": ShuffleCounts.group_by_key}[label]
    shuffle = beam.CoGroupByKey if name else beam.GroupByKey

    def skewing(self, given_label, given, stand_in=None):
        if given_label == label:
            stand_in = _Skewed(shuffle, change, name)
        return checked(self, given_label, given, stand_in)

    monkeypatch.setattr(ShuffleCounts, checked.__name__, skewing)
    out = tmp_path / "out"
    code = run_pipeline.main(["--input", str(synthetic_crawl / "*.warc.gz"),
                              "--robots", str(synthetic_crawl / "robots" / "*.warc.gz"),
                              "--registry", str(BUNDLED_REGISTRY), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"accounting check failed, no manifest written: the runner's shuffle {label} " \
           "passed on" in err
    assert len(err.strip().splitlines()) == 1
    assert not (out / "manifest.json").exists()
