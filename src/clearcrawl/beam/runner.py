"""Pipeline options and runner choice.

Beam's DirectRunner first tries the Prism runner, which downloads a binary at
run time. The pipeline must never touch the network, so `DirectRunner` (the
default) is pinned to Beam's in-process FnApiRunner, exactly the fallback the
DirectRunner itself uses; it honours --direct_num_workers and
--direct_running_mode. Without either flag, a local run uses every core: Beam's
multi_processing mode with as many workers as cores and input files allow (a
file is read by one worker); refilter stays in one process unless told otherwise
(make_pipeline's `local_processes`). `DaskRunner` is ours (beam/dask_runner.py), with a local
cluster of as many workers unless told otherwise. Any other runner (DataflowRunner,
...) passes through.
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import fn_runner

from clearcrawl.beam.arguments import DASK_RUNNER, LOCAL_RUNNERS

_WORKER_FLAGS = ("--direct_num_workers", "--direct_running_mode")


def _provision(options: PipelineOptions):
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))


def local_runner(options: PipelineOptions):
    """Beam's in-process FnApiRunner (never Prism), for the given options."""
    return fn_runner.FnApiRunner(provision_info=_provision(options))


def local_workers(files: int) -> int:
    """Worker processes of a plain local run: one per core, no more than files."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, files))


def in_several_local_workers(options: PipelineOptions) -> bool:
    """Whether a local run splits its work over more than one worker (FnApiRunner does
    whenever it has more than one, in any running mode; 0 asks for one per core): how
    Beam's local runner was measured dropping rows of large shuffles (docs/scale.md)."""
    workers = options.view_as(DirectOptions).direct_num_workers
    return (os.cpu_count() if workers == 0 else workers or 1) > 1


DISTRIBUTED_JOIN_SHARDS = 64


def join_shards(requested: int | None, options: PipelineOptions, is_local: bool) -> int:
    """Key shards of the band-key joins: as requested, else one per local worker (a
    local runner holds its shuffles in memory, so shards bound nothing there and only
    repeat each document's doc_id per shard: 1.87 against 1.14 GB peak on a 1 GiB
    WARC), else DISTRIBUTED_JOIN_SHARDS."""
    if requested is not None:
        return requested
    if is_local:
        return max(1, options.view_as(DirectOptions).direct_num_workers or 1)
    return DISTRIBUTED_JOIN_SHARDS


def make_pipeline(beam_args: list[str], files: int = 1, local_processes: bool = True
                  ) -> tuple[beam.Pipeline, PipelineOptions, bool]:
    """(pipeline, options, is_local) for the pass-through Beam flags; `files`: the
    number of input files, which bounds the useful local workers. Without
    `local_processes`, a local run without worker flags stays in one process (refilter:
    Beam's local multi-worker runner drops rows of large shuffles, docs/scale.md)."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner == DASK_RUNNER:
        # Imported here: dask is an extra, and loading it costs a second.
        from clearcrawl.beam.dask_runner import DaskRunner, DaskWorkerOptions

        workers = options.view_as(DaskWorkerOptions)
        if workers.dask_n_workers is None:
            workers.dask_n_workers = local_workers(files)
        return beam.Pipeline(runner=DaskRunner(), options=options), options, False
    if standard.runner not in LOCAL_RUNNERS:
        return beam.Pipeline(options=options), options, False
    standard.runner = None
    if local_processes and not any(arg.split("=")[0] in _WORKER_FLAGS for arg in beam_args):
        workers = local_workers(files)
        if workers > 1:
            direct = options.view_as(DirectOptions)
            direct.direct_num_workers = workers
            direct.direct_running_mode = "multi_processing"
    return beam.Pipeline(runner=local_runner(options), options=options), options, True
