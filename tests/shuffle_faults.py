"""A runner's shuffle loss, staged: a stand-in for a shuffle that drops (or repeats) one
element of one input before the real shuffle runs, inside real Beam pipelines."""

from __future__ import annotations

import apache_beam as beam

from clearcrawl.beam.shuffle_check import ShuffleCounts


def _skew(pcoll, change: int):
    """The PCollection with its first element (in sorted order) dropped (-1) or
    repeated (+1)."""
    def skewed(elements):
        ordered = sorted(elements, key=repr)
        return ordered[1:] if change < 0 else ordered[:1] + ordered

    return pcoll | "All" >> beam.combiners.ToList() | "Skew" >> beam.FlatMap(skewed)


class Skewed(beam.PTransform):
    """A stand-in for a runner's shuffle (`shuffle()` makes the real one) that loses
    (change -1) or repeats (+1) one element: of input `name` for a CoGroupByKey, of
    its one input otherwise."""

    def __init__(self, shuffle, change: int, name: str | None = None):
        super().__init__()
        self._shuffle, self._change, self._name = shuffle, change, name

    def expand(self, given):
        if self._name is None:
            return _skew(given, self._change) | "Shuffle" >> self._shuffle()
        skewed = {**given, self._name: _skew(given[self._name], self._change)}
        return skewed | "Shuffle" >> self._shuffle()


_SHUFFLES = {"co_group_by_key": beam.CoGroupByKey, "group_by_key": beam.GroupByKey,
             "reshuffle": beam.Reshuffle}


def skew_shuffle(monkeypatch, method: str, label: str, change: int,
                 name: str | None = None) -> None:
    """Graphs built from now on run their checked shuffle `label` (made by
    ShuffleCounts.`method`) through Skewed."""
    checked = getattr(ShuffleCounts, method)

    def skewing(self, given_label, given, shuffle=None):
        if given_label == label:
            shuffle = Skewed(_SHUFFLES[method], change, name)
        return checked(self, given_label, given, shuffle)

    monkeypatch.setattr(ShuffleCounts, method, skewing)


def skew_side_input(monkeypatch, label: str) -> None:
    """Graphs built from now on hand the step reading side input `label` (made by
    ShuffleCounts.as_list) one element fewer than was counted going in."""
    counted = ShuffleCounts.as_list

    def losing(self, given_label, pcoll):
        side = counted(self, given_label, pcoll)
        if given_label != label:
            return side
        return beam.pvalue.AsList(_skew(pcoll, -1))

    monkeypatch.setattr(ShuffleCounts, "as_list", losing)
