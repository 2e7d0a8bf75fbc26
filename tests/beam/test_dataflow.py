"""The Dataflow job is built and pickled without being submitted (--dry_run True), and
what it would have submitted is checked: the job's graph and its pipeline options."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

from clearcrawl.beam.pipeline import format_summary, run
from tests.conftest import BUNDLED_REGISTRY

pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient",
                    reason="apache-beam[gcp] is not installed (make install adds it)")

SCHEME = "testbucket"


class BucketFileSystem(LocalFileSystem):
    """`testbucket://...` served from a local folder: a remote path the workers could
    reach, for a launcher that has no network (gs:// would need Google's API). Beam
    picks a file system by its scheme among FileSystem's subclasses."""

    root: Path | None = None

    @classmethod
    def scheme(cls):
        return SCHEME

    def _local(self, path: str) -> str:
        return str(self.root / path.removeprefix(f"{SCHEME}://"))

    def _remote(self, path: str) -> str:
        return f"{SCHEME}://{os.path.relpath(path, self.root)}"

    def match(self, patterns, limits=None):
        found = super().match([self._local(p) for p in patterns], limits)
        return [MatchResult(pattern, [FileMetadata(self._remote(m.path), m.size_in_bytes,
                                                   m.last_updated_in_seconds)
                                      for m in result.metadata_list])
                for pattern, result in zip(patterns, found)]

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)


@pytest.fixture
def bucket(synthetic_crawl, tmp_path):
    BucketFileSystem.root = tmp_path / "bucket"
    shutil.copytree(synthetic_crawl, BucketFileSystem.root / "crawl")
    yield f"{SCHEME}://crawl"
    BucketFileSystem.root = None


@pytest.mark.parametrize("strategy", ["broadcast", "join"])
def test_dataflow_dry_run_builds_the_whole_graph(bucket, synthetic_crawl, strategy):
    result = run(["--input", f"{bucket}/*.warc.gz",
                  "--robots", f"{bucket}/robots/*.warc.gz",
                  "--registry", str(BUNDLED_REGISTRY),
                  "--output", "gs://dummy-bucket/clearcrawl/out",
                  "--match-strategy", strategy,
                  "--runner", "DataflowRunner", "--project", "dummy-project",
                  "--region", "europe-west4", "--temp_location", "gs://dummy-bucket/tmp",
                  "--dry_run", "True"])
    manifest = result.manifest
    assert manifest["dry_run"] is True and manifest["runner"] == "DataflowRunner"
    assert manifest["match_strategy"] == strategy
    # The shards the workers would read: the bucket's, every one of them.
    shards = sorted(p.name for p in synthetic_crawl.glob("*.warc.gz"))
    assert [i["uri"] for i in manifest["inputs"]] == [f"{bucket}/{name}" for name in shards]
    # The job's graph: reading, deciding, robots captures, the distributed join that
    # finds near-duplicates of removed pages, and the work join only when asked for.
    names = set(manifest["transform_names"])
    assert {"ListShards", "ReadShards/ReadRecords", "ReadRobotsCaptures/ReadCaptures",
            "CollectEvidence/Collect", "Decide/Stage", "PropagateRemovals/JoinStagedFiles",
            "WriteOutputs/Finalize", "CommitOutput/Commit"} <= names
    assert any(n.startswith("MatchWorks/JoinWorkCandidates") for n in names) == (
        strategy == "join")
    assert manifest["transforms"] == len(names) > 30
    # The options the job carries.
    options = manifest["pipeline_options"]
    assert options["project"] == "dummy-project" and options["region"] == "europe-west4"
    assert options["temp_location"].startswith("gs://dummy-bucket/tmp/")  # the job's own
    assert options["dry_run"] in (True, "True")  # as given on the command line
    assert "nothing submitted" in format_summary(result)
