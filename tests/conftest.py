"""Shared fixtures. Real public test material lives in ../shared/data (read in
place, never copied); tests that need it skip with a clear reason where absent."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CLEARCRAWL_SHARED_DATA", REPO.parent / "shared" / "data"))
BUNDLED_REGISTRY = REPO / "optout_registry"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (the ../shared/data folder "
                    "beside the repository; CI has it; set CLEARCRAWL_SHARED_DATA to point "
                    "elsewhere)")
    return SHARED_DATA


def local_pipeline():
    """A Beam pipeline on the project's local runner, with the test pipeline's options
    (to use as a context manager: it runs on exit)."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    from clearcrawl.beam.runner import local_runner

    options = TestPipeline(runner=None).options
    return beam.Pipeline(runner=local_runner(options), options=options)


@pytest.fixture(scope="session")
def synthetic_crawl(tmp_path_factory) -> Path:
    from clearcrawl.registry.source import load_source
    from clearcrawl.synth import generate

    folder = tmp_path_factory.mktemp("synthetic-crawl")
    generate(folder, pages=300, files=2, seed=11, mean_html_bytes=3000,
             works=load_source(BUNDLED_REGISTRY).works)
    return folder


def grown_registry(previous: Path, tmp_path: Path) -> tuple[Path, str]:
    """(registry, the work's page URL): the bundled registry plus one domain opt-out and
    one work (the longest kept page's text of the output `previous`), for refilter."""
    import pyarrow.parquet as pq

    registry = tmp_path / "registry"
    shutil.copytree(BUNDLED_REGISTRY, registry, ignore=shutil.ignore_patterns("synced"))
    with open(registry / "domains" / "examples.csv", "a") as fh:
        fh.write("ex-new-0001,optout,notdaily-herald.example,Late Press,2026-11-28,,\n")
    kept = [r for p in sorted((previous / "data").glob("*.parquet"))
            for r in pq.read_table(p).to_pylist()]
    page = max((r for r in kept if "notdaily" not in r["url"]), key=lambda r: len(r["text"]))
    with open(registry / "works" / "late.jsonl", "w") as fh:
        fh.write(json.dumps({"entry_id": "ex-new-work", "kind": "optout", "title": "Late",
                             "rights_holder": "Late Author", "text": page["text"]}) + "\n")
    return registry, page["url"]
