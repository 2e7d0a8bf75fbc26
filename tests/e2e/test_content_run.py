"""Content matching in the real pipeline: the broadcast index and the band-key join
give identical ledgers, and removals spread to near-duplicates of removed pages."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from clearcrawl.beam.pipeline import run
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


def test_broadcast_and_join_give_identical_ledgers(content_crawl, tmp_path):
    crawl, registry, planted = content_crawl
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
