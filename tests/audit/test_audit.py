"""Audits of a real run's output: verify, eu-summary, lookup and the HTML report."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearcrawl.beam.pipeline import run
from clearcrawl.cli import main
from tests.conftest import BUNDLED_REGISTRY


@pytest.fixture(scope="module")
def output(synthetic_crawl, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audit") / "out"
    run(["--input", str(synthetic_crawl / "*.warc.gz"), "--registry", str(BUNDLED_REGISTRY),
         "--output", str(out)])
    return out


@pytest.fixture
def copy(output, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(output, target)
    return target


def _verify(folder: Path, capsys) -> tuple[int, str]:
    code = main(["audit", "verify", str(folder)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_verify_passes_on_fresh_output(output, capsys):
    code, text = _verify(output, capsys)
    assert code == 0 and "audit verify OK" in text


@pytest.mark.parametrize("folder", ["ledger", "data"])
def test_verify_names_a_file_with_one_changed_byte(copy, capsys, folder):
    path = sorted((copy / folder).glob("*.parquet"))[0]  # one file per worker
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, text = _verify(copy, capsys)
    assert code == 1
    assert f"FAILED: {path.relative_to(copy).as_posix()}: sha256" in text


def test_verify_catches_a_deleted_ledger_row(copy, capsys):
    path = sorted((copy / "ledger").glob("*.parquet"))[0]
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path, compression="zstd")
    code, text = _verify(copy, capsys)
    assert code == 1 and f"FAILED: {path.relative_to(copy).as_posix()}" in text


def test_verify_catches_an_edited_manifest(copy, capsys):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["counts"]["kept"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2))
    code, text = _verify(copy, capsys)
    assert code == 1 and "FAILED: manifest.json: content does not match" in text


def test_verify_catches_an_unlisted_file_and_a_missing_manifest(copy, capsys):
    pq.write_table(pa.table({"x": [1]}), copy / "data" / "extra.parquet")
    code, text = _verify(copy, capsys)
    assert code == 1 and "data/extra.parquet: not listed in the manifest" in text
    (copy / "manifest.json").unlink()
    code, text = _verify(copy, capsys)
    assert code == 1 and "manifest.json: missing" in text


def test_verify_checks_the_registry_works_files(copy, capsys):
    """The works files beside the run's snapshot are listed in the manifest; a changed
    one, a missing one or an extra file under registry/ fails verify."""
    manifest = json.loads((copy / "manifest.json").read_text())
    [listed] = manifest["registry_snapshot"]["works"]  # the bundled registry's 3 works
    assert listed["path"] == "registry/works/part-00000.jsonl.gz" and listed["count"] == 3
    part = copy / listed["path"]
    original = part.read_bytes()
    (copy / "registry" / "works" / "part-00001.jsonl.gz").write_bytes(original)
    code, text = _verify(copy, capsys)
    assert code == 1 and "registry/works/part-00001.jsonl.gz: not listed" in text
    (copy / "registry" / "works" / "part-00001.jsonl.gz").unlink()
    assert _verify(copy, capsys)[0] == 0
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))
    code, text = _verify(copy, capsys)
    assert code == 1 and "works/part-00000.jsonl.gz: sha256" in text
    part.unlink()
    code, text = _verify(copy, capsys)
    assert code == 1 and "works/part-00000.jsonl.gz: works file missing" in text


def test_a_different_registry_gives_a_different_root(output, synthetic_crawl, tmp_path):
    registry = tmp_path / "reg"
    shutil.copytree(BUNDLED_REGISTRY, registry, ignore=shutil.ignore_patterns("synced"))
    with open(registry / "domains" / "examples.csv", "a") as fh:
        fh.write("ex-extra-1,optout,nothing-matches.example,,,,\n")
    other = run(["--input", str(synthetic_crawl / "*.warc.gz"), "--registry", str(registry),
                 "--output", str(tmp_path / "o")]).manifest
    first = json.loads((output / "manifest.json").read_text())
    assert other["counts"] == first["counts"]  # same decisions...
    assert other["ledger_root"] != first["ledger_root"]  # ...under another registry_id
    assert other["run_id"] != first["run_id"]


def _summary(output, capsys, *flags) -> dict:
    assert main(["audit", "eu-summary", str(output), "--format", "json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_eu_summary_top_domains_match_an_independent_count(output, capsys):
    summary = _summary(output, capsys)
    for key in ("period", "top_domains", "optout_measures", "piracy_removed",
                "text_size_range", "registry_id", "policy_id"):
        assert key in summary
    # Independent: bytes of kept text per registrable domain, from the data files.
    bytes_by_domain: Counter = Counter()
    for path in (output / "data").glob("*.parquet"):
        for row in pq.read_table(path, columns=["registered_domain", "text"]).to_pylist():
            bytes_by_domain[row["registered_domain"]] += len(row["text"].encode("utf-8"))
    ranked = sorted(bytes_by_domain.items(), key=lambda kv: (-kv[1], kv[0]))
    expected = ranked[: math.ceil(0.10 * len(ranked))]
    assert [(d["domain"], d["bytes"]) for d in summary["top_domains"]] == expected
    sme = _summary(output, capsys, "--sme")
    assert len(sme["top_domains"]) == min(len(ranked), max(math.ceil(0.05 * len(ranked)),
                                                             min(1000, len(ranked))))

    manifest = json.loads((output / "manifest.json").read_text())
    measures = {m["kind"]: m["removed"] for m in summary["optout_measures"]}
    assert measures["domain_optout"] == manifest["counts"]["removed_by_kind"]["domain_optout"]
    assert summary["piracy_removed"] >= manifest["counts"]["removed_by_kind"]["piracy_domain"]
    assert summary["text_size_range"] == "less than 1 billion tokens"
    assert summary["period"]["start"] <= summary["period"]["end"]
    assert main(["audit", "eu-summary", str(output)]) == 0
    markdown = capsys.readouterr().out
    assert "## 2.3" in markdown and "## 3.1" in markdown and expected[0][0] in markdown


def _lookup(output, capsys, *args) -> dict:
    assert main(["audit", "lookup", str(output), *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_lookup_by_entry_domain_and_url(output, capsys):
    by_entry = _lookup(output, capsys, "--entry", "ex-optout-0001")
    assert by_entry["counts"]["removed"] > 0 and by_entry["kept"] == []
    for row in by_entry["removed"]:
        assert any(r["entry_id"] == "ex-optout-0001" for r in row["reasons"])
        assert row["source_uri"] and row["source_offset"] is not None

    by_domain = _lookup(output, capsys, "--domain", "city-magazine.example")
    assert by_domain["removed"] and by_domain["kept"]  # /premium/ removed, the rest kept
    # (or removed as copies of registered works or removed pages: the synthetic crawl plants some)
    assert all("/premium/" in r["url"] for r in by_domain["removed"]
               if any(x["kind"] == "url_optout" for x in r["reasons"]))
    assert all("/premium/" in r["url"] or {x["kind"] for x in r["reasons"]} <= {
        "work_near_duplicate", "work_exact", "near_duplicate_of_removed"}
        for r in by_domain["removed"])
    assert not any("/premium/" in r["url"] for r in by_domain["kept"])

    url = by_domain["kept"][0]["url"]
    by_url = _lookup(output, capsys, "--url", url.replace("https://", "HTTPS://"))
    assert [r["url"] for r in by_url["kept"]] == [url]


def test_html_report_renders_in_headless_chromium(output, tmp_path, capsys):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("headless Chromium not installed (make test installs Debian's chromium)")
    report = tmp_path / "report.html"
    assert main(["audit", "report", str(output), "--output", str(report)]) == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "report.png"
    result = subprocess.run([chromium, *flags, "--window-size=900,1400",
                             f"--screenshot={shot}", report.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = subprocess.run([chromium, *flags, "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and "ERROR:CONSOLE" not in dom.stderr
    assert dom.stdout.count("<svg") == 3 and "Documents removed, by reason" in dom.stdout
    assert "domain_optout" in dom.stdout
