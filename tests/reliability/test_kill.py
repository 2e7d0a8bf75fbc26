"""Kill tests: a run stopped at a random point (SIGKILL) never leaves an output that looks
complete, and a run into the same folder afterwards succeeds and verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from clearcrawl.cli import main
from tests.conftest import BUNDLED_REGISTRY


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    from clearcrawl.synth import generate

    folder = tmp_path_factory.mktemp("kill-crawl")
    generate(folder, pages=1500, files=3, seed=3, mean_html_bytes=4000)
    return folder


def _command(crawl, out, *extra):
    return [sys.executable, "-m", "clearcrawl.cli", "run", "--input", f"{crawl}/*.warc.gz",
            "--registry", str(BUNDLED_REGISTRY), "--output", str(out), *extra]


@pytest.fixture(scope="module")
def duration(crawl, tmp_path_factory) -> float:
    """How long one uninterrupted run takes here, to place the kills inside it."""
    started = time.monotonic()
    full = subprocess.run(_command(crawl, tmp_path_factory.mktemp("timing") / "out"),
                          capture_output=True)
    assert full.returncode == 0, full.stderr[-2000:]
    return time.monotonic() - started


@pytest.mark.parametrize("seed", range(4))
def test_killed_run_is_never_taken_as_complete(crawl, duration, tmp_path, seed, capsys):
    out = tmp_path / "out"
    delay = random.Random(seed).uniform(0.05, 1.0) * duration
    proc = subprocess.Popen(_command(crawl, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if (out / "manifest.json").exists():
        # The kill came after the commit: then the output must be complete and verify.
        assert main(["audit", "verify", str(out)]) == 0
    else:
        assert main(["audit", "verify", str(out)]) == 1
        assert "manifest.json: missing" in capsys.readouterr().err
    rerun = subprocess.run(_command(crawl, out, "--overwrite"), capture_output=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert main(["audit", "verify", str(out)]) == 0
    assert not (out / ".staging").exists()


def test_an_interrupted_output_is_replaced_without_overwrite(crawl, tmp_path):
    """No manifest means no complete output: a new run may replace it, never merge."""
    out = tmp_path / "out"
    (out / ".staging" / "ledger").mkdir(parents=True)
    (out / ".staging" / "ledger" / "part-stale.parquet").write_bytes(b"stale")
    (out / "ledger").mkdir()
    (out / "ledger" / "part-00000-of-00009.parquet").write_bytes(b"from an older run")
    assert main(["run", "--input", f"{crawl}/*.warc.gz", "--registry",
                 str(BUNDLED_REGISTRY), "--output", str(out)]) == 0
    assert main(["audit", "verify", str(out)]) == 0
    assert not (out / "ledger" / "part-00000-of-00009.parquet").exists()
