"""Progress of a local run, and its counters (progress only: never in the manifest)."""

from __future__ import annotations

import io
import json

from clearcrawl.beam.pipeline import run
from clearcrawl.beam.progress import ProgressReporter, ProgressWriter, read_totals
from tests.conftest import BUNDLED_REGISTRY


def test_workers_progress_files_are_summed(tmp_path):
    first, second = ProgressWriter(str(tmp_path)), ProgressWriter(str(tmp_path))
    first.add(records=5)
    first.add(records=2, files=1)  # a finished file is always written out
    second.add(records=3, files=1)
    assert read_totals(tmp_path) == (10, 2)
    reporter = ProgressReporter(str(tmp_path), total_files=4, stream=io.StringIO())
    assert reporter.line().startswith("read 2/4 files, 10 records, ")


def test_run_reports_its_counters_and_leaves_no_progress_files(synthetic_crawl, tmp_path):
    out = tmp_path / "out"
    result = run(["--input", str(synthetic_crawl / "*.warc.gz"), "--registry",
                  str(BUNDLED_REGISTRY), "--output", str(out)])
    manifest, metrics = result.manifest, result.metrics
    assert metrics["records_read"] == manifest["counts"]["read"]
    assert metrics["files_read"] == len(manifest["inputs"])
    assert metrics["kept"] == manifest["counts"]["kept"]
    for kind, n in manifest["counts"]["removed_by_kind"].items():
        assert metrics[f"removed:{kind}"] == n
    assert "metrics" not in json.loads((out / "manifest.json").read_text())
    assert not (out / ".staging").exists()
