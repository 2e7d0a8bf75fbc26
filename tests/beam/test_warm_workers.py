"""Local multi-process workers forked from a warm template (beam/warm_workers.py):
real pipelines on Beam's FnApiRunner with two worker processes."""

from __future__ import annotations

import os
import signal
import sys

import apache_beam as beam
import pytest

from clearcrawl.beam import warm_workers
from clearcrawl.beam.runner import WarmWorkersRunner, make_pipeline
from clearcrawl.beam.warm_workers import WarmWorkerPool

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")

TWO_PROCESSES = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


def test_wanted_only_for_local_multi_processing_runs():
    assert warm_workers.wanted(TWO_PROCESSES)
    assert warm_workers.wanted(["--direct_running_mode=multi_processing",
                                "--direct_num_workers=0", "--input", "x"])
    assert warm_workers.wanted(["--runner", "DirectRunner", *TWO_PROCESSES])
    assert not warm_workers.wanted(["--direct_num_workers", "2"])  # in_memory: no processes
    assert not warm_workers.wanted(["--direct_running_mode", "multi_processing"])  # 1 worker
    assert not warm_workers.wanted(["--runner", "DataflowRunner", *TWO_PROCESSES])
    assert not warm_workers.wanted(["--direct_running_mode", "multi_threading",
                                    "--direct_num_workers", "2"])


def _record_process(folder: str):
    def record(value: int) -> int:
        with open(os.path.join(folder, f"{value}.txt"), "w") as fh:
            fh.write(f"{os.getpid()} {os.getppid()}")
        return value * value
    return record


def _run_squares(pool: WarmWorkerPool, folder) -> list[tuple[int, int]]:
    """Runs a pipeline on two worker processes of `pool`; (pid, parent pid) per element."""
    pipeline, _, is_local = make_pipeline(TWO_PROCESSES, pool)
    assert is_local and isinstance(pipeline.runner, WarmWorkersRunner)
    with pipeline:
        squares = (pipeline
                   | beam.Create(range(40))
                   | beam.Reshuffle()
                   | beam.Map(_record_process(str(folder))))
        total = squares | beam.CombineGlobally(sum)
        _ = total | beam.Map(_write_total, str(folder / "total"))
    assert (folder / "total").read_text() == str(sum(i * i for i in range(40)))
    return [tuple(map(int, (folder / f"{i}.txt").read_text().split())) for i in range(40)]


def _write_total(total: int, path: str) -> None:
    with open(path, "w") as fh:
        fh.write(str(total))


def test_workers_are_forked_from_the_template_which_stops_with_the_run(tmp_path):
    pool = WarmWorkerPool()
    template, folder = pool.pid, os.path.dirname(pool.socket_path)
    processes = _run_squares(pool, tmp_path)
    assert {parent for _, parent in processes} == {template}
    assert template not in {pid for pid, _ in processes} and os.getpid() != template
    # The run closed the pool: the template has exited and removed its socket folder.
    assert pool.returncode == 0
    assert not os.path.exists(folder)


def test_a_worker_starts_without_its_template(tmp_path):
    """If the template is gone, each worker command becomes Beam's own (after the
    client's wait for a template), and the run still completes."""
    pool = WarmWorkerPool()
    os.kill(pool.pid, signal.SIGKILL)
    processes = _run_squares(pool, tmp_path)
    assert pool.pid not in {parent for _, parent in processes}
    assert pool.returncode == -signal.SIGKILL


def _fail(value: int) -> int:
    if value == 7:
        raise ValueError("boom in a forked worker")
    return value


def test_a_failure_in_a_forked_worker_fails_the_run(tmp_path):
    pool = WarmWorkerPool()
    pipeline, _, _ = make_pipeline(TWO_PROCESSES, pool)
    with pytest.raises(Exception, match="boom in a forked worker"):
        with pipeline:
            _ = pipeline | beam.Create(range(10)) | beam.Reshuffle() | beam.Map(_fail)
    assert pool.returncode == 0  # closed, not left running
