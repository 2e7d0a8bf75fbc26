"""Content matching in the real pipeline: the broadcast index and the band-key join
give identical ledgers, and removals spread to near-duplicates of removed pages."""

from __future__ import annotations

import gzip
import json
import shutil

import pyarrow.parquet as pq
import pytest
from apache_beam.pvalue import TaggedOutput

from clearcrawl.beam.match_works import WorkKeysFn
from clearcrawl.beam.pipeline import run
from clearcrawl.beam.workers import load_snapshot
from clearcrawl.cli import main
from clearcrawl.registry import snapshot as snapshot_module
from clearcrawl.registry.snapshot import Snapshot
from clearcrawl.registry.source import load_source
from clearcrawl.synth_text import TextMaker, planted_corpus
from tests.conftest import BUNDLED_REGISTRY


def _ledger(out):
    rows = []
    for path in sorted((out / "ledger").glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda r: r["doc_id"])


@pytest.fixture(scope="module")
def content_crawl(tmp_path_factory):
    """A JSONL crawl of the planted corpus plus mirrors of opted-out pages, and a
    registry holding the corpus's works."""
    folder = tmp_path_factory.mktemp("content")
    works, docs = planted_corpus(seed=21, works=60, copies=240, quoted=20, unrelated=200)
    registry = folder / "registry"
    shutil.copytree(BUNDLED_REGISTRY, registry, ignore=shutil.ignore_patterns("synced"))
    with open(registry / "works" / "planted.jsonl", "w") as fh:
        for work in works:
            fh.write(json.dumps(work.as_registry_dict()) + "\n")
    maker = TextMaker(99)
    lines, planted = [], {}
    for i, doc in enumerate(docs):
        host = f"site{i % 37}.example"
        if doc.how == "unrelated" and i % 5 == 0:
            host = "daily-herald.example"  # an opted-out domain: removed directly
            mirror = f"https://mirror{i}.example/copy"
            lines.append({"url": mirror, "text": maker.edit(doc.text, 0.005)})
            planted[mirror] = f"https://{host}/{doc.doc_id}"
        lines.append({"url": f"https://{host}/{doc.doc_id}", "text": doc.text})
    for work in works[:5]:  # verbatim re-hosts, punctuation and case aside
        lines.append({"url": f"https://verbatim.example/{work.entry_id}",
                      "text": work.text.upper().replace(".", " ...")})
    crawl = folder / "crawl.jsonl"
    crawl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return crawl, registry, planted


def _run(crawl, registry, out, *flags):
    return run(["--input", str(crawl), "--registry", str(registry), "--output", str(out),
                *flags]).manifest


def test_broadcast_and_join_give_identical_ledgers(content_crawl, tmp_path, monkeypatch):
    crawl, registry, planted = content_crawl
    # 63 works, 7 a file: nine works files, read one per element by the join.
    monkeypatch.setattr(snapshot_module, "WORKS_PER_FILE", 7)
    broadcast = _run(crawl, registry, tmp_path / "b", "--match-strategy", "broadcast")
    joined = _run(crawl, registry, tmp_path / "j", "--match-strategy", "join",
                  "--match-shards", "7")
    assert broadcast["execution"]["match_strategy"] == "broadcast"
    assert joined["execution"]["match_strategy"] == "join"
    assert _ledger(tmp_path / "b") == _ledger(tmp_path / "j")
    assert broadcast["ledger_root"] == joined["ledger_root"]
    assert broadcast["run_id"] == joined["run_id"]
    by_kind = broadcast["counts"]["removed_by_kind"]
    assert by_kind["work_near_duplicate"] > 100 and by_kind["work_exact"] == 5
    assert by_kind["near_duplicate_of_removed"] >= len(planted)
    # The works files are listed in the manifest, beside the snapshot, and verify.
    for out, manifest in ((tmp_path / "b", broadcast), (tmp_path / "j", joined)):
        listed = manifest["registry_snapshot"]["works"]
        assert [w["path"] for w in listed] == [f"registry/works/part-{n:05d}.jsonl.gz"
                                               for n in range(9)]
        assert sum(w["count"] for w in listed) == 63
        assert sorted(p.relative_to(out).as_posix()
                      for p in (out / "registry").rglob("*") if p.is_file()) == sorted(
            ["registry/snapshot.json.gz", *(w["path"] for w in listed)])
        assert main(["audit", "verify", str(out)]) == 0


def test_join_worker_reads_one_works_file_and_a_snapshot_without_works(
        content_crawl, tmp_path, monkeypatch):
    """What a join worker loads: the snapshot (rules and policy, no work in it) and,
    per element, one works file; it never decodes every work."""
    _, registry, _ = content_crawl
    monkeypatch.setattr(snapshot_module, "WORKS_PER_FILE", 7)
    uri = str(Snapshot.from_source(load_source(registry)).write(tmp_path / "snap"))
    assert b'"signature"' not in gzip.decompress((tmp_path / "snap" / "snapshot.json.gz")
                                                 .read_bytes())
    fn = WorkKeysFn(uri, 5)
    fn.setup()
    fn.start_bundle()
    snapshot = load_snapshot(uri)
    start, entry = snapshot.work_file_starts()[3]
    out = list(fn.process((start, entry)))
    records = [o.value for o in out if isinstance(o, TaggedOutput)]
    assert [index for index, _ in records] == list(range(21, 28)) == list(
        range(start, start + entry.count))
    assert [r["entry_id"] for _, r in records] == [
        r["entry_id"] for r in snapshot.works_file_records(entry)]
    keys = [item.value for item in fn.finish_bundle()]
    owners = {e[2] for _, entries in keys for e in entries}
    assert owners == set(range(21, 28))  # keys of this file's works only
    assert "works" not in snapshot.__dict__  # the decoded WorkSet was never built


def test_a_run_refuses_a_snapshot_whose_works_file_was_altered(content_crawl, tmp_path,
                                                               capsys):
    crawl, registry, _ = content_crawl
    assert main(["registry", "build", str(registry), "--output", str(tmp_path / "s")]) == 0
    part = tmp_path / "s" / "works" / "part-00000.jsonl.gz"
    data = gzip.decompress(part.read_bytes()).replace(b'"optout"', b'"piracy"', 1)
    part.write_bytes(gzip.compress(data))
    capsys.readouterr()
    code = main(["run", "--input", str(crawl), "--registry", str(tmp_path / "s"),
                 "--output", str(tmp_path / "out")])
    assert code == 2
    assert "works/part-00000.jsonl.gz: sha256" in capsys.readouterr().err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_near_duplicates_of_removed_pages_are_removed_naming_them(content_crawl, tmp_path):
    crawl, registry, planted = content_crawl
    _run(crawl, registry, tmp_path / "out")
    ledger = _ledger(tmp_path / "out")
    by_url = {row["url"]: row for row in ledger}
    url_of = {row["doc_id"]: row["url"] for row in ledger}
    for mirror, original in planted.items():
        row = by_url[mirror]
        assert row["decision"] == "remove"
        [reason] = [r for r in row["reasons"] if r["kind"] == "near_duplicate_of_removed"]
        assert url_of[reason["entry_id"]] == original
        assert "domain_optout" in reason["detail"] and reason["score"] >= 0.8
    # One hop only: nothing is removed solely for resembling a propagated removal.
    propagated = {r["doc_id"] for r in ledger
                  if [x["kind"] for x in r["reasons"]] == ["near_duplicate_of_removed"]}
    for row in ledger:
        for reason in row["reasons"]:
            if reason["kind"] == "near_duplicate_of_removed":
                assert reason["entry_id"] not in propagated

    _run(crawl, registry, tmp_path / "off", "--no-propagate")
    off = {row["url"]: row for row in _ledger(tmp_path / "off")}
    assert all(off[m]["decision"] == "keep" for m in planted)


def test_propagation_gives_one_ledger_whatever_the_shards_and_workers(content_crawl, tmp_path):
    """Key blocks travel through the shuffle by value, in key shards, and the pairs
    found meet their staged files in a keyed join: one key shard or seven, one process
    or two worker processes, the same ledger. The progress counters, counted once after
    the final decision, equal the receipts' counts with propagation removing pages."""
    crawl, registry, planted = content_crawl
    lines = crawl.read_text().splitlines(keepends=True)
    split = tmp_path / "split"
    split.mkdir()
    for part in range(3):  # several files, so that two workers share the reading
        (split / f"part-{part}.jsonl").write_text("".join(lines[part::3]))
    two_workers = ("--direct_num_workers", "2", "--direct_running_mode", "multi_processing")
    results = {}
    for shards in ("1", "7"):
        for workers in ((), two_workers):
            out = tmp_path / f"out-{shards}-{len(workers)}"
            results[(shards, bool(workers))] = out, run(
                ["--input", str(split / "*.jsonl"), "--registry", str(registry),
                 "--output", str(out), "--match-shards", shards, *workers])
    (first_out, first), *others = results.values()
    by_url = {row["url"]: row for row in _ledger(first_out)}
    assert all(by_url[mirror]["decision"] == "remove" for mirror in planted)
    for out, result in others:
        assert _ledger(out) == _ledger(first_out)
        assert result.manifest["ledger_root"] == first.manifest["ledger_root"]
    for _, result in results.values():
        counts, metrics = result.manifest["counts"], result.metrics
        assert counts["removed_by_kind"]["near_duplicate_of_removed"] >= len(planted)
        assert metrics["kept"] == counts["kept"]
        assert {k: v for k, v in metrics.items() if k.startswith("removed:")} == {
            f"removed:{kind}": n for kind, n in counts["removed_by_kind"].items()}


def test_no_counter_is_ever_decremented():
    """Counted once, after the final decision: nothing to undo anywhere."""
    from pathlib import Path

    import clearcrawl

    source = Path(clearcrawl.__file__).parent
    offenders = [str(path.relative_to(source)) for path in source.rglob("*.py")
                 if ".dec(" in path.read_text()]
    assert offenders == []


def test_auto_strategy_follows_the_measured_broadcast_memory():
    """auto = join above 1 GiB estimated: about 93,000 works of 750 5-grams (the bench's
    100,000 such works peaked at 1,038 MiB on one worker), from the listing alone."""
    from clearcrawl.beam.pipeline import choose_work_strategy
    from clearcrawl.registry.snapshot import WorksFile

    content = Snapshot.from_source(load_source(BUNDLED_REGISTRY)).content

    def listed(works: int) -> Snapshot:
        files = tuple(WorksFile(f"works/part-{n:05d}.jsonl.gz", "0" * 64, 10_000, 7_500_000)
                      for n in range(works // 10_000))
        return Snapshot(content, "unused", files)  # no reader: no work is read

    assert choose_work_strategy(listed(90_000), "auto") == "broadcast"
    assert choose_work_strategy(listed(100_000), "auto") == "join"
    assert 1_038 * 2**20 <= listed(100_000).works_bytes() <= 1.1 * 1_038 * 2**20
    assert choose_work_strategy(listed(100_000), "broadcast") == "broadcast"
    assert choose_work_strategy(listed(0), "auto") == "none"
