"""Pipeline options and runner choice.

Beam's DirectRunner first tries the Prism runner, which downloads a binary at
run time. The pipeline must never touch the network, so `DirectRunner` (the
default) is pinned to Beam's in-process FnApiRunner, exactly the fallback the
DirectRunner itself uses; it also honours --direct_num_workers and
--direct_running_mode. Any other runner (DataflowRunner, ...) passes through.
In `multi_processing` mode on Linux, workers are forked from a warm template
process (warm_workers.py) rather than started as fresh interpreters.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.transforms.environments import SubprocessSDKEnvironment

from clearcrawl.beam import warm_workers
from clearcrawl.beam.arguments import LOCAL_RUNNERS


def _provision(options: PipelineOptions):
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))


def local_runner(options: PipelineOptions):
    return fn_runner.FnApiRunner(provision_info=_provision(options))


class WarmWorkersRunner(fn_runner.FnApiRunner):
    """The FnApiRunner, its `multi_processing` workers forked by `pool`, which it
    closes when the run ends (a pool serves one run)."""

    def __init__(self, pool: warm_workers.WarmWorkerPool, options: PipelineOptions):
        self._pool = pool
        self._warm_environment = SubprocessSDKEnvironment.from_command_string(pool.command)
        super().__init__(provision_info=_provision(options))

    # FnApiRunner.run_pipeline sets Beam's worker command for multi_processing runs
    # just before it runs; the pool's command stays.
    @property
    def _default_environment(self):
        return self._warm_environment

    @_default_environment.setter
    def _default_environment(self, _):
        pass

    def run_pipeline(self, pipeline, options):
        try:
            return super().run_pipeline(pipeline, options)
        finally:
            self._pool.close()


def make_pipeline(beam_args: list[str], pool: warm_workers.WarmWorkerPool | None = None
                  ) -> tuple[beam.Pipeline, PipelineOptions, bool]:
    """(pipeline, options, is_local) for the pass-through Beam flags. `pool`: a warm
    worker template started early by the caller; one is started here if the run
    wants one and none was given."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner not in LOCAL_RUNNERS:
        return beam.Pipeline(options=options), options, False
    standard.runner = None
    if warm_workers.wanted(beam_args):
        runner = WarmWorkersRunner(pool or warm_workers.WarmWorkerPool(), options)
    else:
        runner = local_runner(options)
    return beam.Pipeline(runner=runner, options=options), options, True
