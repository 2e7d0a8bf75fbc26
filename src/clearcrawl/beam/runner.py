"""Pipeline options and runner choice.

Beam's DirectRunner first tries the Prism runner, which downloads a binary at
run time. The pipeline must never touch the network, so `DirectRunner` (the
default) is pinned to Beam's in-process FnApiRunner, exactly the fallback the
DirectRunner itself uses; it also honours --direct_num_workers and
--direct_running_mode. Any other runner (DataflowRunner, ...) passes through.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

LOCAL_RUNNERS = {None, "", "DirectRunner", "directrunner", "direct", "FnApiRunner"}


def local_runner(options: PipelineOptions):
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_runner.FnApiRunner(provision_info=provision)


def make_pipeline(beam_args: list[str]) -> tuple[beam.Pipeline, PipelineOptions, bool]:
    """(pipeline, options, is_local) for the pass-through Beam flags."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner in LOCAL_RUNNERS:
        standard.runner = None
        return beam.Pipeline(runner=local_runner(options), options=options), options, True
    return beam.Pipeline(options=options), options, False
