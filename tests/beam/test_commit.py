"""Commit is the graph's last step: the launcher holds no per-record state."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from clearcrawl.audit.verify import verify_output
from clearcrawl.beam import outputs
from clearcrawl.beam.outputs import open_uri
from clearcrawl.beam.pipeline import RunResult, _metrics, format_summary, prepare
from tests.conftest import BUNDLED_REGISTRY


def _auditor_root(out: Path) -> str:
    spec = importlib.util.spec_from_file_location(
        "recompute_ledger_root", Path(__file__).parents[2] / "docs" / "recompute_ledger_root.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import pyarrow.parquet as pq

    return module.ledger_root(r for f in sorted((out / "ledger").glob("*.parquet"))
                              for r in pq.read_table(f).to_pylist())


def test_the_graph_alone_writes_a_complete_verifiable_output(synthetic_crawl, tmp_path):
    """The launcher builds the graph and exits: nothing of `run` after the pipeline is
    called (no commit, no manifest read), as when a launcher submits a job and leaves."""
    out = tmp_path / "out"
    prepared = prepare(["--input", str(synthetic_crawl / "*.warc.gz"),
                        "--robots", str(synthetic_crawl / "robots" / "*.warc.gz"),
                        "--registry", str(BUNDLED_REGISTRY), "--output", str(out)])
    assert not (out / "manifest.json").exists()
    prepared.pipeline.run().wait_until_finish()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["read"] == 300 and manifest["counts"]["removed"] > 0
    assert verify_output(str(out), open_uri, outputs.list_files) == []
    assert manifest["ledger_root"] == _auditor_root(out)
    assert not (out / ".staging").exists()


class _NoMetrics:
    """A pipeline result whose runner has no metrics (Beam's Dask runner raises so)."""

    def metrics(self):
        raise NotImplementedError("collect metrics")


def test_a_runner_without_metrics_does_not_fail_the_run():
    assert _metrics(_NoMetrics()) is None
    manifest = {"run_id": "r", "inputs": [], "outputs": [], "registry_id": "x" * 16,
                "policy_id": "y" * 16, "counts": {"read": 0, "kept": 0, "removed": 0,
                                                  "error": 0, "removed_by_kind": {}}}
    summary = format_summary(RunResult("/nowhere", manifest, None))
    assert "counters" not in summary
    # An output without files (nothing read) still reads as a sentence.
    assert summary.splitlines()[-1] == "  output   /nowhere/  (manifest.json)"
