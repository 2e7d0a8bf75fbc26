"""Shared fixtures. Real public test material lives in ../shared/data (read in
place, never copied); tests that need it skip with a clear reason where absent."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def synthetic_crawl(tmp_path_factory) -> Path:
    from clearcrawl.registry.source import load_source
    from clearcrawl.synth import generate

    folder = tmp_path_factory.mktemp("synthetic-crawl")
    generate(folder, pages=300, files=2, seed=11, mean_html_bytes=3000,
             works=load_source(BUNDLED_REGISTRY).works)
    return folder
