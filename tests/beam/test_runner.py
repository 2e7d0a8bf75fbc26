"""Runner choice: a plain local run uses every core, and never Beam's Prism runner."""

from __future__ import annotations

from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.runners.portability.fn_api_runner import fn_runner

from clearcrawl.beam.runner import local_workers, make_pipeline


def _mode(beam_args, files):
    pipeline, options, is_local = make_pipeline(beam_args, files)
    direct = options.view_as(DirectOptions)
    assert is_local and isinstance(pipeline.runner, fn_runner.FnApiRunner)
    return direct.direct_running_mode, direct.direct_num_workers


def test_plain_local_run_uses_a_worker_per_core_and_file():
    workers = local_workers(64)
    assert workers >= 1 and local_workers(1) == 1
    expected = ("multi_processing", workers) if workers > 1 else ("in_memory", 1)
    assert _mode([], 64) == expected
    assert _mode(["--runner", "DirectRunner"], 64) == expected
    assert _mode([], 1) == ("in_memory", 1)  # one file is read by one worker


def test_explicit_worker_flags_are_kept():
    assert _mode(["--direct_num_workers", "1"], 64) == ("in_memory", 1)
    assert _mode(["--direct_running_mode=multi_threading", "--direct_num_workers=3"], 64) == (
        "multi_threading", 3)


def test_dask_runner_is_ours_with_a_worker_per_core_and_file():
    import pytest

    pytest.importorskip("distributed")
    from clearcrawl.beam.dask_runner import DaskRunner, DaskWorkerOptions

    pipeline, options, is_local = make_pipeline(["--runner", "DaskRunner"], 1)
    assert isinstance(pipeline.runner, DaskRunner) and not is_local
    assert options.view_as(DaskWorkerOptions).dask_n_workers == 1  # one file, one worker
    _, options, _ = make_pipeline(["--runner", "DaskRunner", "--dask_n_workers", "3"], 1)
    assert options.view_as(DaskWorkerOptions).dask_n_workers == 3  # as given
