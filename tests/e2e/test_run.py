"""The CLI end to end: real pipelines on real and generated crawl files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearcrawl.beam.pipeline import run
from clearcrawl.cli import main
from tests.conftest import BUNDLED_REGISTRY, REPO


def _table(out: Path, folder: str):
    files = sorted((out / folder).glob("*.parquet"))
    assert files, f"no files in {folder}/"
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def _check_manifest(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["read"] == c["kept"] + c["removed"] + c["error"]
    listed = set()
    for entry in manifest["outputs"]:
        path = out / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert pq.ParquetFile(path).metadata.num_rows == entry["rows"]
        listed.add(entry["path"])
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.parquet")}
    assert on_disk == listed
    assert not (out / ".staging").exists()
    for key in ("run_id", "registry_id", "policy_id", "versions", "options", "inputs",
                "counts", "outputs", "ledger_root"):
        assert key in manifest
    return manifest


def test_synthetic_crawl_decisions_match_ground_truth(synthetic_crawl, tmp_path):
    out = tmp_path / "out"
    result = run(["--input", str(synthetic_crawl / "*.warc.gz"), "--registry",
                  str(BUNDLED_REGISTRY), "--output", str(out),
                  "--robots", str(synthetic_crawl / "robots" / "*.warc.gz")])
    manifest = _check_manifest(out)
    truth = {json.loads(line)["url"]: json.loads(line)
             for line in (synthetic_crawl / "ground_truth.jsonl").read_text().splitlines()}
    ledger = _table(out, "ledger")
    assert len(ledger) == len(truth) == manifest["counts"]["read"] == 300
    for row in ledger:
        expected = truth[row["url"]]
        assert row["decision"] == expected["decision"], row["url"]
        kinds = [r["kind"] for r in row["reasons"]]
        assert kinds == ([expected["kind"]] if expected["kind"] else []), row["url"]
        assert row["registry_id"] == manifest["registry_id"]
        assert row["policy_id"] == manifest["policy_id"]
    # Planted content: copies of registered works name the work; mirrors of removed
    # pages name the removed document (by doc_id, whose url is the page mirrored).
    url_of = {row["doc_id"]: row["url"] for row in ledger}
    for row in ledger:
        expected = truth[row["url"]]
        if expected["kind"] == "work_near_duplicate":
            assert row["reasons"][0]["entry_id"] == expected["source"]
        if expected["kind"] == "near_duplicate_of_removed":
            assert url_of[row["reasons"][0]["entry_id"]] == expected["source"]
    by_kind = manifest["counts"]["removed_by_kind"]
    assert {"domain_optout", "url_optout", "piracy_domain", "work_near_duplicate",
            "near_duplicate_of_removed", "robots_crawl_time"} <= set(by_kind)
    assert set(by_kind) & {"noai", "tdmrep", "content_usage"}  # signals on the pages
    data = _table(out, "data")
    assert {r["doc_id"] for r in data} == {r["doc_id"] for r in ledger if r["decision"] == "keep"}
    assert all(r["text"] and r["crawl"] == "CC-MAIN-2026-05" for r in data)
    assert "text" not in ledger[0]  # the ledger can be handed to auditors
    assert result.manifest["ledger_root"] == manifest["ledger_root"]


def test_same_inputs_same_ledger_and_root(synthetic_crawl, tmp_path):
    args = ["--input", str(synthetic_crawl / "*.warc.gz"), "--registry", str(BUNDLED_REGISTRY)]
    first = run([*args, "--output", str(tmp_path / "a")]).manifest
    second = run([*args, "--output", str(tmp_path / "b")]).manifest
    assert first["ledger_root"] == second["ledger_root"] and first["run_id"] == second["run_id"]
    key = lambda r: r["doc_id"]  # noqa: E731
    assert sorted(_table(tmp_path / "a", "ledger"), key=key) == sorted(
        _table(tmp_path / "b", "ledger"), key=key)


def _warcio_counts(files) -> dict[str, int]:
    """Response/conversion records per file, as far as warcio, an independent reader,
    reads each file (it stops at the first record it cannot parse)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    counts = {}
    for path in files:
        counts[str(path)] = 0
        with open(path, "rb") as fh:
            try:
                for record in ArchiveIterator(fh):
                    counts[str(path)] += record.rec_type in ("response", "conversion")
            except ArchiveLoadFailed:
                pass
    return counts


# Records clearcrawl reads where warcio stops: a response whose headers announce a
# chunked body that is not chunked (clearcrawl keeps the body as sent).
BEYOND_WARCIO = {"warcio/example-bad-non-chunked.warc.gz": 1}
# The error rows each real file must give, by kind: binary payloads (images, PDFs) and
# the clipped gzip member of a truncated file. Every other record is kept or removed.
EXPECTED_ERRORS = {
    "ia-web-commons/IAH-urls-wget.warc": ["not_text"] * 4,
    "ia-web-commons/IAH-urls-wget.warc.gz": ["not_text"] * 4,
    "ia-web-commons/text-extraction-test.warc": ["not_text"],
    "resiliparse-fastwarc/clipped.warc.gz": ["truncated_gzip"],
    "warcio/post-test.warc.gz": ["not_text"] * 3,
}


@pytest.mark.parametrize("patterns", [("**/*.warc", "**/*.warc.gz"), ("**/*.wet", "**/*.wet.gz")])
def test_every_real_file_completes_and_is_accounted(shared_data, tmp_path, patterns):
    root = shared_data / "warc"
    files = sorted({p for pattern in patterns for p in root.glob(pattern)})
    out = tmp_path / "out"
    argv = ["run", "--registry", str(BUNDLED_REGISTRY), "--output", str(out)]
    for pattern in patterns:
        argv += ["--input", f"{root}/{pattern}"]
    assert main(argv) == 0
    manifest = _check_manifest(out)
    assert {i["uri"] for i in manifest["inputs"]} == {str(p) for p in files}
    ledger = _table(out, "ledger")
    assert len(ledger) == manifest["counts"]["read"]
    assert len({r["doc_id"] for r in ledger}) == len(ledger)
    relative = {str(p): p.relative_to(root).as_posix() for p in files}
    rows_per_file = Counter(relative[r["source_uri"]] for r in ledger)
    expected_rows = {relative[path]: count + BEYOND_WARCIO.get(relative[path], 0)
                     for path, count in _warcio_counts(files).items()}
    assert {f: n for f, n in rows_per_file.items() if n} == {
        f: n for f, n in expected_rows.items() if n}
    errors = _table(out, "errors")
    assert len(errors) == manifest["counts"]["error"]
    for row in errors:
        assert row["source_uri"] and row["source_offset"] is not None and row["error_kind"]
    errors_per_file = {}
    for row in errors:
        errors_per_file.setdefault(relative[row["source_uri"]], []).append(row["error_kind"])
    assert {f: sorted(kinds) for f, kinds in errors_per_file.items()} == {
        f: kinds for f, kinds in EXPECTED_ERRORS.items() if f in set(relative.values())}
    error_ids = {r["doc_id"] for r in ledger if r["decision"] == "error"}
    assert error_ids == {r["doc_id"] for r in errors}


def test_usage_errors_exit_2_naming_the_culprit(tmp_path, capsys, synthetic_crawl):
    base = ["run", "--registry", str(BUNDLED_REGISTRY), "--output", str(tmp_path / "o")]
    assert main([*base, "--input", str(tmp_path / "nothing-*.warc")]) == 2
    assert "no files match" in capsys.readouterr().err
    odd = tmp_path / "notes.txt"
    odd.write_text("x")
    assert main([*base, "--input", str(odd)]) == 2
    assert "notes.txt: unknown input format" in capsys.readouterr().err
    bad_registry = tmp_path / "reg"
    bad_registry.mkdir()
    (bad_registry / "registry.toml").write_text('name = "x"\n[policy]\nrobots_current = "yes"\n')
    assert main(["run", "--registry", str(bad_registry), "--output", str(tmp_path / "o"),
                 "--input", str(synthetic_crawl / "*.warc.gz")]) == 2
    err = capsys.readouterr().err
    assert "registry.toml:3: robots_current must be true or false" in err
    assert not (tmp_path / "o").exists()  # refused before reading any shard


def test_existing_output_is_refused_without_overwrite(synthetic_crawl, tmp_path, capsys):
    argv = ["run", "--input", str(synthetic_crawl / "*.warc.gz"), "--registry",
            str(BUNDLED_REGISTRY), "--output", str(tmp_path / "o")]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    _check_manifest(tmp_path / "o")


def test_launcher_script_runs(synthetic_crawl, tmp_path):
    # The console script itself: tests/e2e/test_exit_status.py.
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, str(REPO / "pipelines" / "filter_crawl.py"),
                           "--input", str(synthetic_crawl / "*.warc.gz"), "--registry",
                           str(BUNDLED_REGISTRY), "--output", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "records read" in proc.stdout and "removed" in proc.stdout
    _check_manifest(out)


def test_multi_processing_gives_the_same_ledger(synthetic_crawl, tmp_path):
    base = ["--input", str(synthetic_crawl / "*.warc.gz"), "--registry", str(BUNDLED_REGISTRY)]
    single = run([*base, "--output", str(tmp_path / "one"), "--direct_num_workers", "1"]).manifest
    # No Beam flag: every core (2 here, or 1 on a 1-core machine), one worker a file.
    multi = run([*base, "--output", str(tmp_path / "two")]).manifest
    assert multi["ledger_root"] == single["ledger_root"]
    assert multi["counts"] == single["counts"] and multi["run_id"] == single["run_id"]
