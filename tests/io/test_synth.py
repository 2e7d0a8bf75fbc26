"""The crawl generator: its fast paths make the same crawl as before, byte for byte."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from clearcrawl import synth


def _reference_filler(rng: random.Random, room: int) -> list[str]:
    """page_html's filler loop as it was before draws were taken ahead in blocks."""
    found = []
    while room > 0:
        found.append(f"<p>{synth._paragraph(rng, rng.randint(40, 120))}</p>")
        room -= len(found[-1])
    return found


def test_filler_draws_what_the_reference_loop_draws():
    for seed in range(120):
        room = random.Random(seed).choice([1, 50, 700, 9000, 40000])
        ours, reference = random.Random(seed), random.Random(seed)
        assert synth._filler(ours, room) == _reference_filler(reference, room), seed
        assert ours.getstate() == reference.getstate(), seed   # the next draws agree too
    assert synth._filler(random.Random(1), 0) == []


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.warc.gz")) + [folder / "ground_truth.jsonl"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# The files and ground truth of generate(pages=240, files=2, seed=11, mean_html_bytes=4000),
# made by the generator before its fast paths (commit cb134da): a crawl named by its seed
# stays the same crawl. (The robots.txt captures carry random record ids, so are left out.)
BEFORE = "49051815240a5a77436609fb82070de19f6d10c1b03d43f5e7fe17d4df288aae"


def test_a_seed_makes_the_same_files_as_before_with_or_without_jobs(tmp_path):
    settings = {"pages": 240, "files": 2, "seed": 11, "mean_html_bytes": 4000}
    synth.generate(tmp_path / "one", **settings)
    synth.generate(tmp_path / "two", **settings, jobs=2)
    assert _digest(tmp_path / "one") == BEFORE
    assert _digest(tmp_path / "two") == BEFORE


def test_per_file_seeds_make_one_crawl_for_any_jobs(tmp_path):
    settings = {"pages": 90, "files": 3, "seed": 5, "mean_html_bytes": 2000,
                "per_file_seeds": True}
    one = synth.generate(tmp_path / "one", **settings)
    two = synth.generate(tmp_path / "two", **settings, jobs=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    truth = [json.loads(line) for line in open(tmp_path / "one" / "ground_truth.jsonl")]
    assert [row["file"] for row in truth] == [Path(f).name for f in one["files"] for _ in range(30)]
    assert one["expected_removed"] == two["expected_removed"] > 0
    # Another crawl than one generator over every file; files differ from each other.
    synth.generate(tmp_path / "shared", **{**settings, "per_file_seeds": False})
    assert _digest(tmp_path / "one") != _digest(tmp_path / "shared")
    first, second = (Path(f).read_bytes() for f in one["files"][:2])
    assert first[200:] != second[200:]


def test_the_synth_command_passes_jobs_and_per_file_seeds(tmp_path, capsys):
    from clearcrawl.cli import main

    argv = ["synth", "--pages", "40", "--files", "2", "--seed", "5", "--mean-html-bytes", "2000",
            "--registry", str(tmp_path / "no-registry")]
    assert main([*argv, "--output", str(tmp_path / "cli"), "--per-file-seeds", "--jobs", "2"]) == 0
    synth.generate(tmp_path / "api", pages=40, files=2, seed=5, mean_html_bytes=2000,
                   per_file_seeds=True)
    assert _digest(tmp_path / "cli") == _digest(tmp_path / "api")
    assert "wrote 2 WARC files, 40 pages" in capsys.readouterr().out
