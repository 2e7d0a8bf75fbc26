"""Checked shuffles: every element a shuffle was given came out of it, or no manifest.

A runner that drops rows in a shuffle leaves no trace in what comes out of it (Beam's
local multi-worker runner does, intermittently; docs/scale.md), and after most of the
graph's joins a lost row changes a decision without a word: a robots.txt capture not
brought to its pages, a removal not spread to its copies. So each shuffle of the graph
counts, per input, the elements that went in and the elements that came out, as
elements of a PCollection emitted from finish_bundle (only what the runner committed
counts, never a retried attempt's, and no runner metrics); the commit adds them up
(shuffle_losses) and refuses to write a manifest unless they agree.
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam

from clearcrawl.beam.workers import in_global_window

SENT, RECEIVED = "sent", "received"
_ALONE = "elements"  # the input name of a one-input shuffle


class ShuffleCounts:
    """The graph's checked shuffles, collected while the graph is built: each method
    applies its shuffle and two counts beside it; `tallies` is every count, the
    commit's input. Build-time only: nothing here is pickled or grows with the data."""

    def __init__(self):
        self._tallies: list = []
        self._labels: set[str] = set()

    def co_group_by_key(self, label: str, inputs: dict, shuffle=None):
        """`inputs | label >> CoGroupByKey()` (or `shuffle`, a stand-in for tests),
        with each input's elements counted going in and coming out."""
        self._claim(label)
        for name, pcoll in sorted(inputs.items()):
            self._tallies.append(pcoll | f"Count{label}{_title(name)}" >> beam.ParDo(
                _CountFn(label, name, SENT)))
        joined = inputs | label >> (shuffle or beam.CoGroupByKey())
        self._tallies.append(joined | f"Count{label}Out" >> beam.ParDo(
            _CountFn(label, None, RECEIVED)))
        return joined

    def group_by_key(self, label: str, pcoll, shuffle=None):
        """`pcoll | label >> GroupByKey()` with its values counted in and out."""
        self._claim(label)
        self._tallies.append(pcoll | f"Count{label}In" >> beam.ParDo(
            _CountFn(label, _ALONE, SENT)))
        grouped = pcoll | label >> (shuffle or beam.GroupByKey())
        self._tallies.append(grouped | f"Count{label}Out" >> beam.ParDo(
            _CountFn(label, _ALONE, RECEIVED, grouped=True)))
        return grouped

    def combine_per_key(self, label: str, pcoll, merge, shuffle=None):
        """`pcoll | label >> CombinePerKey(merge)`, `merge` a function of an iterable of
        values (applied again to its own results, as Beam's combiner lifting does),
        with values counted in, and out by how many each result merged: each value
        travels with its count (`shuffle`, a stand-in for tests, combines those)."""
        self._claim(label)
        self._tallies.append(pcoll | f"Count{label}In" >> beam.ParDo(
            _CountFn(label, _ALONE, SENT)))
        combined = (pcoll
                    | f"{label}WithCounts" >> beam.MapTuple(lambda key, value: (key, (value, 1)))
                    | label >> (shuffle or beam.CombinePerKey(MergeCounted(merge))))
        self._tallies.append(combined | f"Count{label}Out" >> beam.ParDo(
            _CountFn(label, _ALONE, RECEIVED, merged=True)))
        return combined | f"{label}Values" >> beam.MapTuple(lambda key, counted: (key,
                                                                                  counted[0]))

    def reshuffle(self, label: str, pcoll, shuffle=None):
        """`pcoll | label >> Reshuffle()` with its elements counted in and out."""
        self._claim(label)
        self._tallies.append(pcoll | f"Count{label}In" >> beam.ParDo(
            _CountFn(label, _ALONE, SENT)))
        spread = pcoll | label >> (shuffle or beam.Reshuffle())
        self._tallies.append(spread | f"Count{label}Out" >> beam.ParDo(
            _CountFn(label, _ALONE, RECEIVED)))
        return spread

    def tallies(self, pipeline):
        """PCollection[(shuffle, input, side, count)] of every checked shuffle."""
        if not self._tallies:
            return pipeline | "NoShuffleTallies" >> beam.Create([])
        return tuple(self._tallies) | "ShuffleTallies" >> beam.Flatten()

    def _claim(self, label: str) -> None:
        if label in self._labels:  # tallies are added up by label
            raise ValueError(f"shuffle {label!r} is checked twice in one graph")
        self._labels.add(label)


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


class MergeCounted:
    """`merge` over (value, count) pairs: (merged value, the counts' sum)."""

    def __init__(self, merge):
        self._merge = merge

    def __call__(self, counted):
        counted = list(counted)
        return self._merge([value for value, _ in counted]), sum(n for _, n in counted)


class _CountFn(beam.DoFn):
    """Counts elements per bundle and emits (shuffle, input, side, count) from
    finish_bundle. `name` None: the elements are CoGroupByKey's (key, {input: values}),
    counted per input; `grouped`: (key, values), each value counted; `merged`: (key,
    (value, count)), counted as `count`."""

    def __init__(self, shuffle: str, name: str | None, side: str, grouped: bool = False,
                 merged: bool = False):
        self._shuffle, self._name, self._side = shuffle, name, side
        self._grouped, self._merged = grouped, merged

    def start_bundle(self):
        self._counts: dict[str, int] = {}

    def process(self, element):
        counts = self._counts
        if self._name is None:
            for name, values in element[1].items():
                counts[name] = counts.get(name, 0) + _size(values)
        else:
            counts[self._name] = counts.get(self._name, 0) + (
                _size(element[1]) if self._grouped else element[1][1] if self._merged
                else 1)

    def finish_bundle(self):
        for name, count in sorted(self._counts.items()):
            yield in_global_window((self._shuffle, name, self._side, count))


def _size(values: Iterable) -> int:
    try:
        return len(values)
    except TypeError:  # a runner's lazy iterable of grouped values
        return sum(1 for _ in values)


def shuffle_losses(tallies: Iterable[tuple[str, str, str, int]]) -> list[str]:
    """Each checked shuffle input whose elements in and out differ, in words; [] if
    none. Sorted, so the same losses always read the same."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for shuffle, name, side, count in tallies:
        sides = totals.setdefault((shuffle, name), {SENT: 0, RECEIVED: 0})
        sides[side] += count
    return [f"the runner's shuffle {shuffle} passed on {sides[RECEIVED]} of the "
            f"{sides[SENT]} elements it was given"
            + ("" if name == _ALONE else f" as {name!r}")
            for (shuffle, name), sides in sorted(totals.items())
            if sides[SENT] != sides[RECEIVED]]
