"""The Dask runner's translation on tiny real pipelines, run on a real two-worker
dask.distributed cluster: tagged outputs, finish_bundle outputs, side inputs,
GroupByKey, branches nobody consumes, and what it refuses."""

from __future__ import annotations

import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to
from apache_beam.transforms.userstate import BagStateSpec
from apache_beam.transforms.window import FixedWindows, GlobalWindows

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402 - a dependency of dask

from clearcrawl.beam.dask_runner import DaskRunner  # noqa: E402

# The workers do not import this test module: its DoFns travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def address():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _pipeline(address: str) -> beam.Pipeline:
    return beam.Pipeline(runner=DaskRunner(), options=PipelineOptions(
        ["--runner", "DaskRunner", "--dask_client_address", address]))


class _SplitParity(beam.DoFn):
    """Evens to the main output, odds tagged; in finish_bundle, the bundle's count."""

    def start_bundle(self):
        self.seen = 0

    def process(self, x):
        self.seen += 1
        yield beam.pvalue.TaggedOutput("odd", x) if x % 2 else x

    def finish_bundle(self):
        yield beam.pvalue.TaggedOutput("seen", GlobalWindows.windowed_value(self.seen))


def test_tagged_outputs_are_split_and_finish_bundle_outputs_kept(address):
    with _pipeline(address) as p:
        split = (p | beam.Create(range(20))
                 | beam.ParDo(_SplitParity()).with_outputs("odd", "seen", main="even"))
        assert_that(split.even, equal_to(range(0, 20, 2)), label="Evens")
        assert_that(split.odd, equal_to(range(1, 20, 2)), label="Odds")
        # one count per bundle (partition), emitted in finish_bundle: together, every element
        assert_that(split.seen | beam.CombineGlobally(sum), equal_to([20]), label="Seen")


def test_side_inputs_of_every_kind(address):
    with _pipeline(address) as p:
        pairs = p | "Pairs" >> beam.Create([("a", 1), ("b", 2), ("a", 3)])
        one = p | "One" >> beam.Create([7])
        nothing = p | "Nothing" >> beam.Create([])
        seen = (p | "Main" >> beam.Create(["x", "y"])
                | beam.Map(lambda x, single, default, items, listed, mapping, multi: (
                    x, single, default, sorted(items), sorted(listed), mapping["b"],
                    sorted(multi["a"])),
                    beam.pvalue.AsSingleton(one),
                    beam.pvalue.AsSingleton(nothing, default_value="none"),
                    beam.pvalue.AsIter(pairs), beam.pvalue.AsList(pairs),
                    beam.pvalue.AsDict(pairs), beam.pvalue.AsMultiMap(pairs)))
        expected = [(x, 7, "none", [("a", 1), ("a", 3), ("b", 2)],
                     [("a", 1), ("a", 3), ("b", 2)], 2, [1, 3]) for x in "xy"]
        assert_that(seen, equal_to(expected))


def test_group_by_key_brings_each_key_together_once(address):
    # 300 elements over 300 partitions (Create spreads them), 7 keys
    with _pipeline(address) as p:
        grouped = (p | beam.Create(range(300)) | beam.Map(lambda x: (f"k{x % 7}", x))
                   | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, sorted(vs))))
        assert_that(grouped, equal_to(
            [(f"k{k}", list(range(k, 300, 7))) for k in range(7)]))
        joined = ({"left": p | "L" >> beam.Create([(1, "a"), (2, "b")]),
                   "right": p | "R" >> beam.Create([(1, "x"), (3, "y")])}
                  | beam.CoGroupByKey()
                  | beam.MapTuple(lambda k, v: (k, sorted(v["left"]), sorted(v["right"]))))
        assert_that(joined, equal_to([(1, ["a"], ["x"]), (2, ["b"], []), (3, [], ["y"])]),
                    label="Joined")


class _Touch(beam.DoFn):
    """Writes a file per element it sees (the step's visible side effect)."""

    def __init__(self, folder: str):
        self._folder = folder

    def process(self, x):
        with open(Path(self._folder) / f"{x}", "x") as fh:  # "x": a second run fails
            fh.write("seen")
        yield x


def test_every_branch_runs_and_a_shared_step_runs_once(address, tmp_path):
    with _pipeline(address) as p:
        shared = p | beam.Create(range(10)) | "Touch" >> beam.ParDo(_Touch(str(tmp_path)))
        _ = shared | "Twice" >> beam.Map(lambda x: 2 * x)   # nobody consumes these:
        _ = shared | "Thrice" >> beam.Map(lambda x: 3 * x)  # they must run all the same
        _ = (shared | "Late" >> beam.Map(lambda x: x + 100)
             | "TouchLate" >> beam.ParDo(_Touch(str(tmp_path))))
    assert sorted(int(f.name) for f in tmp_path.iterdir()) == [*range(10), *range(100, 110)]


def test_a_failing_assertion_fails_the_run(address):
    with pytest.raises(BeamAssertException):
        with _pipeline(address) as p:
            assert_that(p | beam.Create([1, 2]), equal_to([1, 2, 3]))


class _Stateful(beam.DoFn):
    STATE = BagStateSpec("seen", beam.coders.VarIntCoder())

    def process(self, kv, state=beam.DoFn.StateParam(STATE)):  # noqa: B008 - Beam's idiom
        yield kv


def test_refuses_what_it_cannot_run_naming_the_step(address):
    with pytest.raises(NotImplementedError, match="KeepState.*stateful"):
        with _pipeline(address) as p:
            _ = p | beam.Create([(1, 1)]) | "KeepState" >> beam.ParDo(_Stateful())
    with pytest.raises(NotImplementedError, match="global window"):
        with _pipeline(address) as p:
            _ = (p | beam.Create([1]) | "Windowed" >> beam.WindowInto(FixedWindows(10))
                 | beam.Map(lambda x: x))
