"""refilter: a newer registry applied to a finished output gives the decisions of a full
re-run, without reading the crawl."""

from __future__ import annotations

import json
import re
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearcrawl.audit.verify import manifest_digest, verify_output
from clearcrawl.beam import outputs
from clearcrawl.beam.pipeline import run
from clearcrawl.beam.refilter import join_losses, prepare_refilter
from clearcrawl.cli import main
from tests.conftest import BUNDLED_REGISTRY, grown_registry
from tests.shuffle_faults import skew_shuffle


def _ledger(out):
    rows = [r for p in sorted((out / "ledger").glob("*.parquet"))
            for r in pq.read_table(p).to_pylist()]
    return {r["doc_id"]: r for r in rows}


def _table(out, folder):
    return sorted((r for p in sorted((out / folder).glob("*.parquet"))
                   for r in pq.read_table(p).to_pylist()), key=lambda r: r["doc_id"])


@pytest.fixture(scope="module")
def crawl(synthetic_crawl, tmp_path_factory):
    """The synthetic crawl plus a copy of one file cut short, so that some records
    cannot be read and the output has error rows to carry over."""
    folder = tmp_path_factory.mktemp("refilter-crawl")
    files = sorted(synthetic_crawl.glob("*.warc.gz"))
    for path in files:
        shutil.copy(path, folder / path.name)
    data = files[0].read_bytes()
    (folder / "damaged.warc.gz").write_bytes(data[: len(data) * 3 // 5])
    return folder


@pytest.fixture(scope="module")
def previous(crawl, tmp_path_factory):
    out = tmp_path_factory.mktemp("refilter") / "previous"
    manifest = run(["--input", str(crawl / "*.warc.gz"), "--registry", str(BUNDLED_REGISTRY),
                    "--output", str(out)]).manifest
    assert manifest["counts"]["error"] >= 1
    return out


def test_refilter_matches_a_full_rerun(previous, crawl, tmp_path, capsys):
    registry, work_url = grown_registry(previous, tmp_path)
    code = main(["refilter", "--previous", str(previous), "--registry", str(registry),
                 "--output", str(tmp_path / "refiltered")])
    assert code == 0, capsys.readouterr().err
    full = run(["--input", str(crawl / "*.warc.gz"), "--registry", str(registry),
                "--output", str(tmp_path / "full")]).manifest
    refiltered = _ledger(tmp_path / "refiltered")
    rerun = _ledger(tmp_path / "full")
    assert refiltered.keys() == rerun.keys()
    assert {d: r["decision"] for d, r in refiltered.items()} == \
        {d: r["decision"] for d, r in rerun.items()}
    assert refiltered == rerun  # reasons, ids and every other column too
    # Records that could not be read keep their error rows, rebuilt as in a run.
    errors = _table(tmp_path / "refiltered", "errors")
    assert errors == _table(tmp_path / "full", "errors") == _table(previous, "errors")
    assert len(errors) == full["counts"]["error"] >= 1

    manifest = json.loads((tmp_path / "refiltered" / "manifest.json").read_text())
    assert manifest["ledger_root"] == full["ledger_root"]
    before = _ledger(previous)
    changed = {c["doc_id"]: c for c in _table(tmp_path / "refiltered", "changes")}
    assert manifest["changes"]["documents_changed"] == len(changed)
    assert changed.keys() == {d for d in before
                              if before[d]["decision"] != rerun[d]["decision"]
                              or before[d]["reasons"] != rerun[d]["reasons"]}
    kinds = {k for c in changed.values() for k in c["reasons"]}
    assert {"domain_optout", "work_exact"} <= kinds
    assert manifest["changes"]["added_entries"] == {"domain_rules": ["ex-new-0001"],
                                                    "works": ["ex-new-work"]}
    assert any(c["url"] == work_url for c in changed.values())
    assert manifest["previous"]["run_id"] == json.loads(
        (previous / "manifest.json").read_text())["run_id"]
    assert main(["audit", "verify", str(tmp_path / "refiltered")]) == 0
    # The new registry's works files (the added work among them) ship with the output.
    assert sum(w["count"] for w in manifest["registry_snapshot"]["works"]) == 4


def test_refilter_refuses_a_registry_that_drops_entries(previous, tmp_path, capsys):
    registry = tmp_path / "registry"
    shutil.copytree(BUNDLED_REGISTRY, registry, ignore=shutil.ignore_patterns("synced"))
    csv = registry / "domains" / "examples.csv"
    csv.write_text("".join(line for line in csv.read_text().splitlines(keepends=True)
                           if "photo-archive" not in line))
    code = main(["refilter", "--previous", str(previous), "--registry", str(registry),
                 "--output", str(tmp_path / "x")])
    assert code == 2 and "removed or changed" in capsys.readouterr().err
    assert not (tmp_path / "x" / "manifest.json").exists()


def test_the_refilter_graph_alone_writes_its_manifest_and_changes(previous, tmp_path):
    """As for `run`: the launcher builds the graph and leaves; the graph compares every
    final ledger row with its previous one where the rows are written (changes/, a
    table like the ledger, so the manifest never grows with them), and its last step
    counts them and writes the manifest."""
    registry, work_url = grown_registry(previous, tmp_path)
    out = tmp_path / "graph-only"
    prepared = prepare_refilter(["--previous", str(previous), "--registry", str(registry),
                                 "--output", str(out)])
    assert not (out / "manifest.json").exists()
    prepared.pipeline.run().wait_until_finish()
    manifest = json.loads((out / "manifest.json").read_text())
    changes = manifest["changes"]
    assert set(changes) == {"added_entries", "documents_changed", "kept_to_removed",
                            "documents_restorable"}
    changed = _table(out, "changes")
    assert pq.read_schema(sorted((out / "changes").glob("*.parquet"))[0]).names == [
        "doc_id", "url", "before", "after", "reasons"]
    assert changes["documents_changed"] == len(changed) >= 2
    assert len({c["doc_id"] for c in changed}) == len(changed)
    before, after = _ledger(previous), _ledger(out)
    for c in changed:
        assert (c["before"], c["after"]) == (before[c["doc_id"]]["decision"],
                                             after[c["doc_id"]]["decision"])
        assert c["reasons"] == sorted({r["kind"] for r in after[c["doc_id"]]["reasons"]})
    assert changes["kept_to_removed"] == sum(c["before"] == "keep" and c["after"] == "remove"
                                             for c in changed) >= 2
    assert any(c["url"] == work_url for c in changed)
    assert changes["documents_restorable"] == 0 and _table(out, "restorable") == []
    assert verify_output(str(out), outputs.open_uri, outputs.list_files) == []
    assert not (out / ".staging").exists()


def test_audit_verify_holds_a_refilter_to_its_changes(previous, tmp_path):
    """changes/ is part of the output: a changes file edited, or a count in the
    manifest that its files do not bear out, does not verify."""
    registry, _ = grown_registry(previous, tmp_path)
    out = tmp_path / "refiltered"
    assert main(["refilter", "--previous", str(previous), "--registry", str(registry),
                 "--output", str(out)]) == 0
    assert verify_output(str(out), outputs.open_uri, outputs.list_files) == []

    edited = tmp_path / "edited"
    shutil.copytree(out, edited)
    path = sorted((edited / "changes").glob("*.parquet"))[0]
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)  # one changed document left out
    problems = verify_output(str(edited), outputs.open_uri, outputs.list_files)
    rel = path.relative_to(edited).as_posix()
    assert any(p.startswith(f"{rel}: ") for p in problems), problems

    recounted = tmp_path / "recounted"
    shutil.copytree(out, recounted)
    manifest = json.loads((recounted / "manifest.json").read_text())
    manifest["changes"]["documents_changed"] += 1
    manifest["manifest_digest"] = manifest_digest(manifest)  # re-signed: still caught
    (recounted / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_output(str(recounted), outputs.open_uri, outputs.list_files)
    assert any(p.startswith("changes/: ") and "documents_changed" in p for p in problems), \
        problems
    manifest["changes"]["documents_changed"] -= 1
    manifest["changes"]["kept_to_removed"] -= 1
    manifest["manifest_digest"] = manifest_digest(manifest)
    (recounted / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_output(str(recounted), outputs.open_uri, outputs.list_files)
    assert problems == [f"changes/: {manifest['changes']['kept_to_removed'] + 1} rows go from "
                        "keep to remove, for the manifest's kept_to_removed "
                        f"{manifest['changes']['kept_to_removed']}"], problems

    stray = tmp_path / "stray"
    shutil.copytree(out, stray)
    shutil.copy(path, stray / "restorable" / "extra.parquet")
    problems = verify_output(str(stray), outputs.open_uri, outputs.list_files)
    assert "restorable/extra.parquet: not listed in the manifest (added after the run?)" \
        in problems


def _altered_copy(previous, tmp_path, folder: str):
    """A copy of the previous output whose first `folder` file has one row changed and
    was rewritten (its manifest untouched): its sha256 no longer matches."""
    copy = tmp_path / "altered"
    shutil.copytree(previous, copy)
    path = sorted((copy / folder).glob("*.parquet"))[0]
    table = pq.read_table(path)
    rows = table.to_pylist()
    column = "decision" if folder == "ledger" else "text"
    rows[0][column] = "keep" if rows[0][column] != "keep" else "remove"
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    return copy, path.relative_to(copy).as_posix()


@pytest.mark.parametrize("folder", ["ledger", "data"])
def test_refilter_refuses_a_previous_output_whose_files_were_changed(previous, tmp_path,
                                                                      capsys, folder):
    """The files' sha256 and the ledger are verified in the graph (no process reads the
    whole previous output); on a mismatch the commit writes no manifest and the command
    exits 2 naming the file."""
    altered, rel = _altered_copy(previous, tmp_path, folder)
    _assert_refused(previous, altered, rel, tmp_path, capsys)


def _refilter_grown(previous, given, tmp_path, capsys, *flags: str) -> tuple[int, str, object]:
    """(exit status, stderr, output folder) of the CLI's refilter of `given` (`previous`
    or a copy of it) with the registry grown after `previous`."""
    registry, _ = grown_registry(previous, tmp_path)
    out = tmp_path / "refiltered"
    code = main(["refilter", "--previous", str(given), "--registry", str(registry),
                 "--output", str(out), *flags])
    return code, capsys.readouterr().err, out


def _assert_refused(previous, damaged, rel: str, tmp_path, capsys) -> None:
    """refilter on `damaged` (a copy of `previous`) exits 2 naming `rel`'s sha256, and
    leaves neither a manifest nor staged files."""
    code, err, out = _refilter_grown(previous, damaged, tmp_path, capsys)
    assert code == 2, err
    assert f"{damaged} does not verify, refusing to build on it: {rel}: sha256" in err
    assert not (out / "manifest.json").exists() and not (out / ".staging").exists()


def test_the_refilter_launcher_reads_no_previous_file(previous, tmp_path):
    """The launcher checks only what needs no file's content (the manifest, the file
    names, the snapshot): a changed ledger file passes it, and the graph alone refuses
    to commit on it."""
    altered, rel = _altered_copy(previous, tmp_path, "ledger")
    registry, _ = grown_registry(previous, tmp_path)
    out = tmp_path / "graph-only"
    prepared = prepare_refilter(["--previous", str(altered), "--registry", str(registry),
                                 "--output", str(out)])
    with pytest.raises(Exception, match=f"does not verify, no manifest written: {rel}"):
        prepared.pipeline.run().wait_until_finish()
    assert not (out / "manifest.json").exists()


def test_refilter_refuses_an_edited_manifest_before_building(previous, tmp_path, capsys):
    copy = tmp_path / "edited"
    shutil.copytree(previous, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["counts"]["kept"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    registry, _ = grown_registry(previous, tmp_path)
    code = main(["refilter", "--previous", str(copy), "--registry", str(registry),
                 "--output", str(tmp_path / "x")])
    assert code == 2 and "manifest_digest" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_refilter_refuses_to_commit_when_its_join_lost_rows(previous):
    """Every row of the previous output must reach RefilterFn: a runner that drops
    shuffled rows (Beam's local multi-worker runner does, beyond about a GB of
    documents) would otherwise restore documents silently."""
    manifest = json.loads((previous / "manifest.json").read_text())
    rows = {folder: sum(o["rows"] for o in manifest["outputs"]
                        if o["path"].startswith(f"{folder}/"))
            for folder in ("ledger", "data", "signatures", "errors")}
    whole = [{"ledger": rows["ledger"], "data": rows["data"],
              "signature": rows["signatures"], "error": rows["errors"], "texts": rows["data"]}]
    assert join_losses(manifest, whole) == ""
    halves = [{k: v // 2 for k, v in whole[0].items()}, {k: v - v // 2 for k, v in whole[0].items()}]
    assert join_losses(manifest, halves) == ""
    # As the graph sends them: the join's counts and the texts given back, apart.
    apart = [{k: v for k, v in whole[0].items() if k != "texts"}, {"texts": rows["data"]}]
    assert join_losses(manifest, apart) == ""
    short = [dict(whole[0], data=rows["data"] - 5)]
    assert join_losses(manifest, short) == (
        f"data/ has {rows['data']} rows but the join by doc_id passed on {rows['data'] - 5}")
    # A text that never reached its document (a row group's rows lost on the way).
    untold = [dict(whole[0], texts=rows["data"] - 2)]
    assert join_losses(manifest, untold) == (
        f"data/ has {rows['data']} rows but {rows['data'] - 2} texts were given back to "
        "their documents")


@pytest.mark.parametrize("method, label, name, workers", [
    ("group_by_key", "JoinTexts", None, []),  # a document's rows lost on the way
    ("reshuffle", "SpreadPreviousFiles", None, []),  # a previous file left unchecked
    ("group_by_key", "GroupShards", None, []),  # a copy of a removed page left kept
    ("group_by_key", "JoinTexts", None, ["--direct_num_workers", "2",
                                         "--direct_running_mode", "multi_processing"]),
])
def test_a_refilter_whose_shuffle_lost_a_row_exits_1_without_a_manifest(
        previous, tmp_path, capsys, monkeypatch, method, label, name, workers):
    """A runner's loss is the runner's: exit 1 naming the step, not exit 2 blaming the
    previous output, and no manifest. In local worker processes, where Beam's runner
    was seen losing rows, the line advises one."""
    skew_shuffle(monkeypatch, method, label, -1, name)
    code, err, out = _refilter_grown(previous, previous, tmp_path, capsys, *workers)
    assert code == 1, err
    assert re.fullmatch(r"clearcrawl refilter: accounting check failed, no manifest written: "
                        rf"the runner passed on \d+ of the \d+ elements given to {label}.*\n",
                        err), err
    assert ("run again, with --direct_num_workers 1" in err) == bool(workers)
    assert not (out / "manifest.json").exists()


def test_refilter_refuses_a_previous_output_with_an_unreadable_ledger(previous, tmp_path,
                                                                       capsys):
    """A ledger file cut short fails its read in the graph before the commit judges it;
    the refusal still names it, exit 2, and no staged files are left."""
    copy = tmp_path / "truncated"
    shutil.copytree(previous, copy)
    path = sorted((copy / "ledger").glob("*.parquet"))[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _assert_refused(previous, copy, path.relative_to(copy).as_posix(), tmp_path, capsys)


def test_a_text_not_given_back_to_its_document_stops_the_commit(previous, tmp_path, capsys,
                                                                 monkeypatch):
    """A kept document sent where its text is not (here, among the documents without
    text) would come back kept with no text: join_losses counts the texts given back,
    and the commit refuses (exit 1, one line, no manifest)."""
    from clearcrawl.beam import refilter as refilter_module

    places = refilter_module._text_places

    def misplaced(uri):
        for number, (doc_id, place) in enumerate(places(uri)):
            yield doc_id, ("", 0) if number == 0 else place

    monkeypatch.setattr(refilter_module, "_text_places", misplaced)
    code, err, out = _refilter_grown(previous, previous, tmp_path, capsys)
    assert code == 1, err
    found = re.fullmatch(r"clearcrawl refilter: accounting check failed, no manifest written: "
                         r"data/ has (\d+) rows but (\d+) texts were given back to their "
                         r"documents\n", err)
    assert found, err
    files = len(list((previous / "data").glob("*.parquet")))
    assert int(found[1]) - int(found[2]) == files >= 1
    assert not (out / "manifest.json").exists()


def _old_format(out, folder):
    """A copy of refilter output `out` as refilters wrote it before changes/ existed:
    the changed and restorable documents listed in its manifest."""
    shutil.copytree(out, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    changes = manifest["changes"]
    listed = {name: _table(folder, name) for name in ("changes", "restorable")}
    for name in listed:
        shutil.rmtree(folder / name)
    manifest["outputs"] = [o for o in manifest["outputs"]
                           if not o["path"].startswith(("changes/", "restorable/"))]
    manifest["changes"] = {"added_entries": changes["added_entries"],
                           "documents_changed": changes["documents_changed"],
                           "kept_to_removed": changes["kept_to_removed"],
                           "documents": listed["changes"], "restorable": listed["restorable"]}
    manifest["manifest_digest"] = manifest_digest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_refilter_output_is_a_previous_output_too_in_either_format(previous, tmp_path):
    """A refilter of a refilter's output (with the same registry) changes nothing and
    verifies; so does one of an output in the format refilters wrote before changes/
    existed, which still verifies itself."""
    registry, _ = grown_registry(previous, tmp_path)
    first, again = tmp_path / "first", tmp_path / "again"
    common = ["--registry", str(registry)]
    assert main(["refilter", "--previous", str(previous), *common, "--output", str(first)]) == 0
    assert main(["refilter", "--previous", str(first), *common, "--output", str(again)]) == 0
    manifests = {out: json.loads((out / "manifest.json").read_text()) for out in (first, again)}
    assert manifests[first]["changes"]["documents_changed"] >= 2
    assert manifests[again]["changes"]["documents_changed"] == 0
    assert manifests[again]["ledger_root"] == manifests[first]["ledger_root"]
    assert _table(again, "changes") == [] and (again / "changes").is_dir()
    assert verify_output(str(again), outputs.open_uri, outputs.list_files) == []

    old = tmp_path / "old-format"
    _old_format(first, old)
    assert verify_output(str(old), outputs.open_uri, outputs.list_files) == []
    from_old = tmp_path / "from-old"
    assert main(["refilter", "--previous", str(old), *common, "--output", str(from_old)]) == 0
    manifest = json.loads((from_old / "manifest.json").read_text())
    assert manifest["ledger_root"] == manifests[first]["ledger_root"]
    assert manifest["changes"]["documents_changed"] == 0
