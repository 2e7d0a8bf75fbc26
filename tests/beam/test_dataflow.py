"""The Dataflow job is built and pickled without being submitted (--dry_run True)."""

from __future__ import annotations

import pytest

from clearcrawl.beam.pipeline import format_summary, run
from tests.conftest import BUNDLED_REGISTRY

pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient",
                    reason="apache-beam[gcp] is not installed (make install adds it)")


@pytest.mark.parametrize("strategy", ["broadcast", "join"])
def test_dataflow_dry_run_builds_the_whole_graph(synthetic_crawl, tmp_path, strategy):
    result = run(["--input", str(synthetic_crawl / "*.warc.gz"),
                  "--registry", str(BUNDLED_REGISTRY),
                  "--output", "gs://dummy-bucket/clearcrawl/out",
                  "--match-strategy", strategy,
                  "--runner", "DataflowRunner", "--project", "dummy-project",
                  "--region", "europe-west4", "--temp_location", "gs://dummy-bucket/tmp",
                  "--dry_run", "True"])
    manifest = result.manifest
    assert manifest["dry_run"] is True and manifest["runner"] == "DataflowRunner"
    assert manifest["match_strategy"] == strategy
    assert manifest["transforms"] > 30
    assert "nothing submitted" in format_summary(result)
    assert not (tmp_path / "out").exists()
