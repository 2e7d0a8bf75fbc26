"""`--runner DaskRunner`: the pipeline run on dask.distributed, as a plain dask task graph.

Beam's own Dask runner (apache_beam.runners.dask) translates a pipeline into dask
bags and cannot run this one: it drops what a DoFn emits in `finish_bundle`, gives
every consumer all of a ParDo's tagged outputs, and dask's bag optimiser recomputes
bags that several steps share (see the README, "Running on Dask"). This runner keeps
its name and options (a subclass, so `--runner DaskRunner` and Beam's `--dask_*`
flags work) and translates the graph itself:

- a PCollection is a list of partitions, each one dask task whose value is a list of
  WindowedValues; a ParDo with tagged outputs has partitions per tag;
- a ParDo runs each partition as one bundle through Beam's DoFnRunner (setup,
  start_bundle, process, finish_bundle, whose outputs are kept); a worker keeps its
  set-up DoFns for the run's later bundles, and tears them down at the end;
- a side input is one task computing the view (AsSingleton, AsIter, AsList, AsDict,
  AsMultiMap) once, handed to every bundle that reads it;
- Create: one element per partition (at most 1,024 partitions, then chunks), so the
  input files spread over the workers; Flatten concatenates partition lists;
  Reshuffle keeps them; GroupByKey splits every partition by a deterministic hash of
  the key (dask's `tokenize`) and groups each split;
- every PCollection nobody consumes is computed too, so no step is skipped, and each
  task runs once (a plain graph of tasks, submitted as built).

Stateful DoFns, splittable DoFns, Read and windowing other than the global window are
refused with an error naming the step. Without `--dask_client_address` or
`--dask_scheduler_file` the run starts a `distributed.LocalCluster` of worker
processes (`--dask_n_workers`, default one per core) and closes it at the end.
"""

from __future__ import annotations

import gc
import logging
import operator
import threading
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor, PTransformOverride
from apache_beam.runners.common import DoFnRunner, DoFnSignature, Receiver
from apache_beam.runners.dask import dask_runner as beam_dask

# Beam's private primitives for its Dask runner (apache_beam.runners.dask.overrides):
# the composites Create, Flatten, GroupByKey, Read and Reshuffle replaced by leaves that
# carry only what a translation needs. Reused so both runners see one graph shape.
from apache_beam.runners.dask.overrides import (
    _Create,
    _Flatten,
    _GroupByKeyOnly,
    _Read,
    _Reshuffle,
)
from apache_beam.runners.runner import PipelineResult, PipelineState
from apache_beam.transforms.core import Impulse
from apache_beam.transforms.window import GlobalWindows

try:
    import dask.distributed  # noqa: F401 - the runner's one requirement, named below
    from dask.core import quote
except ImportError as exc:  # the `dask` extra is not installed
    raise ImportError("--runner DaskRunner needs dask.distributed: "
                      "pip install 'clearcrawl[dask]'") from exc

log = logging.getLogger("clearcrawl")

MAX_CREATE_PARTITIONS = 1024
# Partitions of a GroupByKey's output (without --dask_npartitions): two a worker, no
# more than its input has, and few enough that the n x m split pieces stay cheap to
# schedule (each is a task: a 300-page crawl took 7x longer with 25 where 4 do).
GROUP_PARTITIONS_PER_WORKER = 2
MAX_GROUP_PARTITIONS = 256


class DaskWorkerOptions(PipelineOptions):
    """This runner's own flags, beside Beam's DaskOptions (--dask_client_address, ...)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--dask_n_workers", type=int, default=None,
            help="worker processes of the local Dask cluster started when no "
                 "--dask_client_address is given (default: one per core, at most the "
                 "number of input files)")
        parser.add_argument(
            "--dask_shared_filesystem", action="store_true", default=False,
            help="the Dask cluster's workers see this machine's paths (a shared "
                 "filesystem): local --input and --output are accepted")


class DaskRunner(beam_dask.DaskRunner):
    """Runs a Beam pipeline as a dask.distributed task graph (see the module doc)."""

    def run_pipeline(self, pipeline, options):
        client, cluster = _connect(options)
        try:
            pipeline.replace_all(_overrides())
            token = uuid.uuid4().hex[:12]
            workers = len(client.scheduler_info().get("workers", {}))
            translator = _Translator(token, _npartitions(options), workers)
            pipeline.visit(translator)
            final = translator.final()
            (future,) = client.get(translator.graph, [final], sync=False)
        except BaseException:
            _close(client, cluster)
            raise
        return DaskPipelineResult(client, cluster, future, token)


def _npartitions(options) -> int | None:
    values = options.view_as(beam_dask.DaskOptions).get_all_options(
        drop_default=True, current_only=True)
    # Beam's private helper that pops its dask.bag partition flags: --dask_npartitions
    # here sets the partitions of Create and GroupByKey (--dask_partition_size is unused).
    return beam_dask.DaskOptions._extract_bag_kwargs(values).get("npartitions")


def _connect(options):
    """(client, cluster): a client of the given cluster (cluster None), or of a new
    LocalCluster of worker processes that the run closes."""
    from dask.distributed import Client, LocalCluster

    # dask's logging config sets "distributed" to INFO: every start, worker and
    # connection would reach a CLI run's stderr. Warnings (a lost worker) still do.
    quiet = logging.getLogger("distributed")
    if quiet.getEffectiveLevel() < logging.WARNING:
        quiet.setLevel(logging.WARNING)

    values = options.view_as(beam_dask.DaskOptions).get_all_options(
        drop_default=True, current_only=True)
    beam_dask.DaskOptions._extract_bag_kwargs(values)  # private: see _npartitions
    if values.get("address") or values.get("scheduler_file"):
        return Client(**values), None
    values.pop("address", None)
    values.pop("scheduler_file", None)
    workers = options.view_as(DaskWorkerOptions).dask_n_workers or None
    # One thread a worker: DoFns and their native libraries run one bundle at a time,
    # as on Beam's own workers. No memory limit: the pipeline bounds its own memory,
    # and a nanny killing a worker near its limit would only retry the same bundle.
    # ":0": the scheduler's HTTP server (always started) on a free port, never a clash
    # with another cluster's 8787.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", memory_limit=0,
                           silence_logs=logging.ERROR)
    try:
        return Client(cluster, **values), cluster
    except BaseException:
        cluster.close()
        raise


def _close(client, cluster) -> None:
    # A closing cluster logs every worker it retires at INFO: not news for a run.
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        quiet.setLevel(level)


class DaskPipelineResult(PipelineResult):
    """The run's one future: the graph's last task, which depends on every leaf."""

    def __init__(self, client, cluster, future, token: str):
        super().__init__(PipelineState.RUNNING)
        self._client, self._cluster, self._future, self._token = client, cluster, future, token

    def wait_until_finish(self, duration=None):
        if self._state != PipelineState.RUNNING:
            return self._state
        try:
            self._future.result(timeout=None if duration is None else duration / 1000)
            self._state = PipelineState.DONE
        except TimeoutError:
            return self._state
        except BaseException:
            self._state = PipelineState.FAILED
            raise
        finally:
            if self._state != PipelineState.RUNNING:
                self._finish()
        return self._state

    def _finish(self) -> None:
        try:
            self._client.run(_forget_run, self._token)  # every worker tears its DoFns down
        except Exception:  # noqa: BLE001 - teardown is best effort, as in Beam
            log.warning("dask: tearing down the run's DoFns failed", exc_info=True)
        _close(self._client, self._cluster)

    def cancel(self):
        self._state = PipelineState.CANCELLING
        self._future.cancel()
        self._state = PipelineState.CANCELLED
        self._finish()
        return self._state

    def metrics(self):
        # Counters are progress only (the commit accounts from receipts); none here.
        raise NotImplementedError("DaskRunner reports no metrics")


class _Replace(PTransformOverride):
    def __init__(self, original, make):
        self._original, self._make = original, make

    def matches(self, applied) -> bool:
        return applied.transform.__class__ == self._original

    def get_replacement_transform_for_applied_ptransform(self, applied):
        return self._make(applied.transform)


def _overrides() -> list[PTransformOverride]:
    """Beam's Dask overrides, but GroupByKey becomes one primitive (no window reify)."""
    return [_Replace(beam.Create, lambda t: _Create(t.values)),
            _Replace(beam.Reshuffle, lambda t: _Reshuffle()),
            _Replace(beam.io.Read, lambda t: _Read(t.source)),
            _Replace(beam.GroupByKey, lambda t: _GroupByKeyOnly()),
            _Replace(beam.Flatten, lambda t: _Flatten())]


class _Translator(PipelineVisitor):
    """Each leaf transform -> dask tasks, in dask's task-graph spec (a dict of key ->
    (function, *arguments), where an argument that is a key stands for its value);
    `parts[pcoll]`: the keys of that PCollection's partitions. The graph is built as a
    plain dict: dask.delayed merges and culls a graph per call, which took longer than
    the run itself."""

    def __init__(self, token: str, npartitions: int | None = None, workers: int = 1):
        self._token = token
        self._npartitions = npartitions
        self._group_partitions = npartitions or min(
            MAX_GROUP_PARTITIONS, GROUP_PARTITIONS_PER_WORKER * max(workers, 1))
        self.graph: dict = {}
        self.parts: dict = {}
        self._consumed: set[int] = set()

    def _name(self, node, suffix: str = "") -> str:
        return f"{node.full_label}{suffix}-{self._token}"

    def _input(self, node, pcoll) -> list:
        if pcoll not in self.parts:
            raise RuntimeError(f"DaskRunner: {node.full_label} reads a PCollection not yet "
                               "translated")
        self._consumed.add(id(pcoll))
        return self.parts[pcoll]

    def visit_transform(self, node) -> None:
        transform = node.transform
        outputs = {tag: p for tag, p in node.outputs.items() if p.producer is node}
        if not outputs:
            return  # a composite that hands its input on: nothing to run
        for pcoll in [*node.inputs, *outputs.values()]:
            if isinstance(pcoll, beam.pvalue.PCollection) and not isinstance(
                    pcoll.windowing.windowfn, GlobalWindows):
                raise NotImplementedError(f"DaskRunner: {node.full_label}: only the global "
                                          "window is supported")
        if isinstance(transform, beam.ParDo):
            self._pardo(node, outputs)
            return
        (out,) = outputs.values()
        if isinstance(transform, _Create):
            self.parts[out] = self._create(node, list(transform.values))
        elif isinstance(transform, Impulse):
            self.parts[out] = self._create(node, [b""])
        elif isinstance(transform, _Flatten):
            self.parts[out] = [part for p in node.inputs for part in self._input(node, p)]
        elif isinstance(transform, _Reshuffle):
            self.parts[out] = list(self._input(node, node.inputs[0]))
        elif isinstance(transform, _GroupByKeyOnly):
            self.parts[out] = self._group(node, self._input(node, node.inputs[0]))
        elif isinstance(transform, _Read):
            raise NotImplementedError(f"DaskRunner: {node.full_label}: Read (bounded sources) "
                                      "is not supported; read in a DoFn")
        else:
            raise NotImplementedError(f"DaskRunner: {node.full_label}: "
                                      f"{type(transform).__name__} is not supported")

    def _create(self, node, values: list) -> list:
        count = min(self._npartitions or MAX_CREATE_PARTITIONS, max(len(values), 1))
        size = -(-len(values) // count) if values else 0
        chunks = [values[i * size:(i + 1) * size] for i in range(count)] if values else [[]]
        name = self._name(node)
        # Quoted: data that dask must not read as keys or tasks.
        return [self._task((name, i), _windowed, quote(chunk))
                for i, chunk in enumerate(chunks)]

    def _group(self, node, inputs: list) -> list:
        count = max(1, min(self._group_partitions, len(inputs)))
        split_name, piece_name, name = (self._name(node, s) for s in ("/split", "/piece", ""))
        splits = [self._task((split_name, i), _split, part, count)
                  for i, part in enumerate(inputs)]
        return [self._task((name, j), _group, *[
            self._task((piece_name, i, j), operator.getitem, split, j)
            for i, split in enumerate(splits)]) for j in range(count)]

    def _pardo(self, node, outputs: dict) -> None:
        transform = node.transform
        signature = DoFnSignature(transform.dofn)
        if signature.is_stateful_dofn() or signature.is_splittable_dofn():
            raise NotImplementedError(f"DaskRunner: {node.full_label}: stateful and splittable "
                                      "DoFns are not supported")
        import cloudpickle

        tags = list(outputs)
        main = node.inputs[0]
        spec_key = self._name(node, "/spec")
        self.graph[spec_key] = cloudpickle.dumps((transform.dofn, transform.args,
                                                  transform.kwargs, tags, main.windowing,
                                                  node.full_label))
        sides = [self._side(node, index, side) for index, side in enumerate(node.side_inputs)]
        name = self._name(node)
        tasks = [self._task((name, i), _run_bundle, self._token, spec_key, list(sides), part)
                 for i, part in enumerate(self._input(node, main))]
        if len(tags) == 1:
            self.parts[outputs[tags[0]]] = tasks
            return
        for index, tag in enumerate(tags):
            tag_name = self._name(node, f"[{tag}]")
            self.parts[outputs[tag]] = [
                self._task((tag_name, i), operator.getitem, task, index)
                for i, task in enumerate(tasks)]

    def _side(self, node, index: int, side):
        parts = self._input(node, side.pvalue)
        # Beam's private view protocol (pvalue.AsSideInput): its options and the
        # function that turns the PCollection's values into the view the DoFn sees.
        return self._task(self._name(node, f"/side{index}"), _view,
                          type(side), quote(side._view_options()), *parts)

    def _task(self, key, function, *args):
        self.graph[key] = (function, *args)
        return key

    def final(self) -> str:
        """One task over every partition nobody consumes (each counted where it is)."""
        leaves = [part for pcoll, parts in self.parts.items()
                  if id(pcoll) not in self._consumed for part in parts]
        name = f"done-{self._token}"
        counts = [self._task((name + "/count", i), len, part) for i, part in enumerate(leaves)]
        return self._task(name, _total, *counts)


# ---- what the workers run ----------------------------------------------------------

def _windowed(values: list) -> list:
    return [GlobalWindows.windowed_value(v) for v in values]


def _total(*counts: int) -> int:
    return sum(counts)


def _split(part: list, count: int) -> list[list]:
    """A partition's (key, value) pairs in `count` lists, by a stable hash of the key
    (dask's tokenize: the same for equal keys in every process, unlike hash())."""
    from dask.base import tokenize

    pieces: list[list] = [[] for _ in range(count)]
    for wv in part:
        key, value = wv.value
        pieces[int(tokenize(key), 16) % count if count > 1 else 0].append((key, value))
    return pieces


def _group(*pieces: list) -> list:
    """The pieces of one shuffle partition, grouped by key in arrival order."""
    groups: dict = {}
    for piece in pieces:
        for key, value in piece:
            groups.setdefault(key, []).append(value)
    return [GlobalWindows.windowed_value(kv) for kv in groups.items()]


def _view(view_class, options: dict, *parts: list):
    # Private Beam: AsSideInput._from_runtime_iterable builds the view from the values.
    return view_class._from_runtime_iterable([wv.value for p in parts for wv in p], options)


class _ComputedSideInput:
    """A side input already computed for the global window (what DoFnRunner asks of a
    SideInputMap: its value for a window, and whether it is globally windowed)."""

    def __init__(self, value):
        self._value = value

    def __getitem__(self, window):
        return self._value

    def is_globally_windowed(self) -> bool:
        return True


class _ListReceiver(Receiver):
    def __init__(self):
        self.values: list = []

    def receive(self, windowed_value) -> None:
        self.values.append(windowed_value)


class _Discard(Receiver):
    def receive(self, windowed_value) -> None:
        pass


class _Receivers(dict):
    """Receivers by tag; a tag nobody consumes is discarded."""

    def __missing__(self, tag):
        return _Discard()


# Set-up DoFns of each run on this worker, by (run token, spec): a bundle borrows one,
# so DoFn.setup runs once per DoFn instance and not once per bundle.
_IDLE: dict[tuple[str, bytes], list] = {}
_LOCK = threading.Lock()


def _run_bundle(token: str, spec: bytes, sides: list, part: list) -> list | tuple:
    """One bundle: the partition's elements through the DoFn; its outputs by tag
    (those of finish_bundle included)."""
    with _LOCK:
        idle = _IDLE.get((token, spec))
        borrowed = idle.pop() if idle else None
    setup = borrowed is None
    if setup:
        import cloudpickle

        borrowed = cloudpickle.loads(spec)  # a fresh copy: DoFns hold per-bundle state
    dofn, args, kwargs, tags, windowing, label = borrowed
    receivers = _Receivers({tag: _ListReceiver() for tag in tags})
    runner = DoFnRunner(dofn, args, kwargs, [_ComputedSideInput(v) for v in sides],
                        windowing, receivers, step_name=label)
    if setup:
        runner.setup()
    runner.start()
    for wv in part:
        runner.process(wv)
    runner.finish()
    # The bundle's garbage cycles are freed here, on the thread that made them: some
    # native objects (resiliparse's HTML trees) refuse to be dropped on another thread,
    # such as the worker's event loop when a collection happens to start there.
    gc.collect(1)  # the young generations: a full collection costs ~0.1 s a bundle
    with _LOCK:
        _IDLE.setdefault((token, spec), []).append(borrowed)
    values = [receivers[tag].values for tag in tags]
    return values[0] if len(tags) == 1 else tuple(values)


def _forget_run(token: str) -> None:
    """Tear down this worker's DoFns of the run (client.run calls it on every worker)."""
    with _LOCK:
        keys = [k for k in _IDLE if k[0] == token]
        borrowed = [b for k in keys for b in _IDLE.pop(k)]
    for dofn, *_ in borrowed:
        try:
            dofn.teardown()
        except Exception:  # noqa: BLE001 - teardown is best effort, as in Beam
            log.warning("teardown failed", exc_info=True)
