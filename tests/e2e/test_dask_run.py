"""One crawl on three engines: the default local runner, two DirectRunner workers and a
two-worker dask.distributed cluster give the same ledger rows, root, counts and run_id,
and every output passes `clearcrawl audit verify` (its real exit status)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearcrawl.beam.pipeline import run
from clearcrawl.beam.refilter import refilter
from tests.conftest import BUNDLED_REGISTRY, grown_registry

distributed = pytest.importorskip("distributed")

ENGINES = {
    "default": [],
    "direct-x2": ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
    "dask": ["--runner", "DaskRunner", "--dask_n_workers", "2"],  # a local cluster of 2
}


def _crawl_args(crawl: Path) -> list[str]:
    return ["--input", str(crawl / "*.warc.gz"), "--registry", str(BUNDLED_REGISTRY),
            "--robots", str(crawl / "robots" / "*.warc.gz")]


def _rows(out: Path, folder: str) -> list[dict]:
    rows = [row for f in sorted((out / folder).glob("*.parquet"))
            for row in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda row: row["doc_id"])


def _ledger(out: Path) -> list[dict]:
    return _rows(out, "ledger")


def _verify(out: Path) -> subprocess.CompletedProcess:
    beside = Path(sys.executable).with_name("clearcrawl")
    script = str(beside) if beside.is_file() else shutil.which("clearcrawl")
    if not script:
        pytest.skip("the clearcrawl console script is not installed (pip install -e .)")
    return subprocess.run([script, "audit", "verify", str(out)], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def outputs(synthetic_crawl, tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    folder = tmp_path_factory.mktemp("engines")
    found = {}
    for engine, flags in ENGINES.items():
        out = folder / engine
        found[engine] = (out, run([*_crawl_args(synthetic_crawl), "--output", str(out),
                                   *flags]).manifest)
    return found


def test_every_engine_gives_the_same_ledger_and_root(outputs):
    reference_out, reference = outputs["default"]
    rows = _ledger(reference_out)
    assert len(rows) == reference["counts"]["read"] == 300
    assert reference["counts"]["removed"] > 0
    for engine, (out, manifest) in outputs.items():
        assert _ledger(out) == rows, engine
        assert manifest["ledger_root"] == reference["ledger_root"], engine
        assert manifest["counts"] == reference["counts"], engine
        assert manifest["run_id"] == reference["run_id"], engine
    # The key shards are the runner's choice (64 distributed, one per local worker) and
    # change no row; the strategy is the registry's.
    assert outputs["dask"][1]["execution"]["match_strategy"] == reference["execution"][
        "match_strategy"]
    assert outputs["dask"][1]["execution"]["match_shards"] == 64


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_output_passes_audit_verify(outputs, engine):
    proc = _verify(outputs[engine][0])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "audit verify OK" in proc.stdout


def test_an_existing_cluster_by_address_with_the_works_join(synthetic_crawl, outputs,
                                                           tmp_path):
    """--dask_client_address: a cluster the run does not own (left running after it);
    the band-key join of works instead of the in-memory index, same rows."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    try:
        out = tmp_path / "out"
        manifest = run([*_crawl_args(synthetic_crawl), "--output", str(out),
                        "--match-strategy", "join", "--runner", "DaskRunner",
                        "--dask_client_address", cluster.scheduler_address]).manifest
        with distributed.Client(cluster.scheduler_address) as client:
            assert len(client.scheduler_info()["workers"]) == 2  # still up
    finally:
        cluster.close()
    reference_out, reference = outputs["default"]
    assert manifest["execution"]["match_strategy"] == "join"
    assert manifest["ledger_root"] == reference["ledger_root"]
    assert _ledger(out) == _ledger(reference_out)
    assert _verify(out).returncode == 0


def test_refilter_on_dask_gives_the_default_runners_output(outputs, tmp_path):
    """refilter's graph (its commit and the changes block included) on the Dask cluster:
    the same ledger, root and changes as on the default runner."""
    previous, _ = outputs["default"]
    registry, _ = grown_registry(previous, tmp_path)
    found = {}
    for engine in ("default", "dask"):
        out = tmp_path / engine
        found[engine] = (out, refilter(["--previous", str(previous), "--registry",
                                        str(registry), "--output", str(out),
                                        *ENGINES[engine]]).manifest)
    (default_out, default), (dask_out, dask) = found["default"], found["dask"]
    assert default["changes"]["documents_changed"] > 0
    assert dask["changes"] == default["changes"]
    assert len(_rows(default_out, "changes")) == default["changes"]["documents_changed"]
    for folder in ("changes", "restorable"):
        assert _rows(dask_out, folder) == _rows(default_out, folder)
    assert dask["ledger_root"] == default["ledger_root"]
    assert _ledger(dask_out) == _ledger(default_out)
    assert _verify(dask_out).returncode == 0
