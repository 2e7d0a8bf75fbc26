"""Checked shuffles: every element a shuffle was given came out of it, or no manifest.

A runner that drops rows in a shuffle leaves no trace in what comes out of it (Beam's
local multi-worker runner does, intermittently; docs/scale.md), and after most of the
graph's joins a lost row changes a decision without a word: a robots.txt capture not
brought to its pages, a removal not spread to its copies. So each shuffle of the graph
counts, per input, the elements that went in and the elements that came out, as
elements of a PCollection emitted from finish_bundle (only what the runner committed
counts, never a retried attempt's, and no runner metrics); so do the commit step's side
inputs, whose elements the commit counts as it gets them. The commit adds the counts up
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
    applies its shuffle (or `shuffle`, a stand-in that tests use to stage a loss) and
    counts beside it; `tallies` is every count, the commit's input. Build-time only:
    nothing here is pickled or grows with the data."""

    def __init__(self):
        self._tallies: list = []
        self._labels: set[str] = set()
        self._expected: list[tuple[str, str, str]] = []  # (shuffle, input, side)
        self._taken = False

    def co_group_by_key(self, label: str, inputs: dict, shuffle=None):
        """`inputs | label >> CoGroupByKey()`, each input's elements counted going in
        and coming out."""
        self._claim(label)
        for name, pcoll in sorted(inputs.items()):
            self._count(label, pcoll, camel(name), _CountFn(label, name, SENT))
        joined = inputs | label >> (beam.CoGroupByKey() if shuffle is None else shuffle)
        self._count(label, joined, "Out", _CountJoinedFn(label, None, RECEIVED),
                    names=sorted(inputs))
        return joined

    def group_by_key(self, label: str, pcoll, shuffle=None):
        """`pcoll | label >> GroupByKey()`, its values counted in and out."""
        self._claim(label)
        self._count_in(label, pcoll)
        grouped = pcoll | label >> (beam.GroupByKey() if shuffle is None else shuffle)
        self._count(label, grouped, "Out", _CountFn(label, _ALONE, RECEIVED, _values_of))
        return grouped

    def combine_per_key(self, label: str, pcoll, merge, shuffle=None):
        """`pcoll | label >> CombinePerKey(merge)`, `merge` a function of an iterable of
        values (applied again to its own results, as Beam's combiner lifting does):
        each value travels with its count, so what comes out says how many it merged."""
        self._claim(label)
        self._count_in(label, pcoll)
        combined = (pcoll
                    | f"{label}WithCounts" >> beam.MapTuple(lambda key, value: (key, (value, 1)))
                    | label >> (beam.CombinePerKey(MergeCounted(merge)) if shuffle is None
                                else shuffle))
        self._count(label, combined, "Out", _CountFn(label, _ALONE, RECEIVED, _merged_of))
        return combined | f"{label}Values" >> beam.MapTuple(
            lambda key, counted: (key, counted[0]))

    def reshuffle(self, label: str, pcoll, shuffle=None):
        """`pcoll | label >> Reshuffle()`, its elements counted in and out."""
        self._claim(label)
        self._count_in(label, pcoll)
        spread = pcoll | label >> (beam.Reshuffle() if shuffle is None else shuffle)
        self._count(label, spread, "Out", _CountFn(label, _ALONE, RECEIVED))
        return spread

    def as_list(self, label: str, pcoll):
        """AsList(pcoll), its elements counted going in; the step that reads it counts
        what it got (received_tally)."""
        self._claim(label)
        self._count_in(label, pcoll)
        return beam.pvalue.AsList(pcoll)

    def tallies(self, pipeline):
        """PCollection[(shuffle, input, side, count)] of every checked shuffle, one per
        (shuffle, input, side) whatever the number of bundles, a zero of each included
        (so one that never arrives is seen missing: `expected`): taken once, by the
        commit, after every other step is built."""
        self._taken = True
        zeros = pipeline | "ExpectedTallies" >> beam.Create(
            [(*key, 0) for key in self._expected], reshuffle=False)
        return ((*self._tallies, zeros)
                | "ShuffleTallies" >> beam.Flatten()
                | "KeyTallies" >> beam.Map(lambda tally: (tally[:3], tally[3]))
                | "SumTallies" >> beam.CombinePerKey(sum)
                | "FlatTallies" >> beam.MapTuple(lambda key, count: (*key, count)))

    def expected(self) -> list[tuple[str, str, str]]:
        """Every (shuffle, input, side) whose count the commit must find in `tallies`."""
        return list(self._expected)

    def _count_in(self, label: str, pcoll) -> None:
        self._count(label, pcoll, "In", _CountFn(label, _ALONE, SENT))

    def _count(self, label: str, pcoll, part: str, count: _CountFn,
               names: list[str] | None = None) -> None:
        self._expected += [(label, name, count.side) for name in (names or [count.name])]
        self._tallies.append(pcoll | f"Count{label}{part}" >> beam.ParDo(count))

    def _claim(self, label: str) -> None:
        if self._taken:  # its counts would never reach the commit
            raise ValueError(f"shuffle {label!r} is checked after the tallies were taken")
        if label in self._labels:  # tallies are added up by label
            raise ValueError(f"shuffle {label!r} is checked twice in one graph")
        self._labels.add(label)


def received_tally(label: str, values: list) -> tuple[str, str, str, int]:
    """The tally of a side input (ShuffleCounts.as_list) as the step reading it got it."""
    return label, _ALONE, RECEIVED, len(values)


def camel(name: str) -> str:
    """A snake_case name as it reads in a transform label: previous_roots, PreviousRoots."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class MergeCounted:
    """`merge` over (value, count) pairs: (merged value, the counts' sum)."""

    def __init__(self, merge):
        self._merge = merge

    def __call__(self, counted):
        counted = list(counted)
        return self._merge([value for value, _ in counted]), sum(n for _, n in counted)


def _one(_element) -> int:
    return 1


def _values_of(element) -> int:
    """(key, grouped values): how many values."""
    return _size(element[1])


def _merged_of(element) -> int:
    """(key, (merged value, count)): how many values were merged."""
    return element[1][1]


class _CountFn(beam.DoFn):
    """Counts the elements of one input per bundle, each as `size` says, and emits
    (shuffle, input, side, count) from finish_bundle."""

    def __init__(self, shuffle: str, name: str | None, side: str, size=_one):
        self.shuffle, self.name, self.side, self._size = shuffle, name, side, size

    def start_bundle(self):
        self._counts: dict[str, int] = {}

    def process(self, element):
        self._counts[self.name] = self._counts.get(self.name, 0) + self._size(element)

    def finish_bundle(self):
        for name, count in sorted(self._counts.items()):
            yield in_global_window((self.shuffle, name, self.side, count))


class _CountJoinedFn(_CountFn):
    """CoGroupByKey's (key, {input: values}), counted per input."""

    def process(self, element):
        for name, values in element[1].items():
            self._counts[name] = self._counts.get(name, 0) + _size(values)


def _size(values: Iterable) -> int:
    try:
        return len(values)
    except TypeError:  # a runner's lazy iterable of grouped values
        return sum(1 for _ in values)


def shuffle_losses(tallies: Iterable[tuple[str, str, str, int]],
                   expected: Iterable[tuple[str, str, str]] = ()) -> list[str]:
    """Each checked shuffle input whose elements in and out differ, and each `expected`
    (shuffle, input, side) of which no count arrived, in words; [] if none. Sorted, so
    the same losses always read the same."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    arrived = set()
    for shuffle, name, side, count in tallies:
        sides = totals.setdefault((shuffle, name), {SENT: 0, RECEIVED: 0})
        sides[side] += count
        arrived.add((shuffle, name, side))
    missing = [f"no count arrived of the elements {shuffle} "
               + ("was given" if side == SENT else "passed on")
               + ("" if name == _ALONE else f" as {name!r}")
               for shuffle, name, side in sorted(set(expected) - arrived)]
    return missing + [f"the runner passed on {sides[RECEIVED]} of the {sides[SENT]} elements given "
            f"to {shuffle}" + ("" if name == _ALONE else f" as {name!r}")
            for (shuffle, name), sides in sorted(totals.items())
            if sides[SENT] != sides[RECEIVED]]
