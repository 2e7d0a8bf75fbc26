"""Each composite transform on Beam's in-process runner, checked with assert_that."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from clearcrawl.beam.collect_evidence import CollectEvidence
from clearcrawl.beam.config import RunConfig
from clearcrawl.beam.decide import Decide
from clearcrawl.beam.match_works import MatchWorks
from clearcrawl.beam.propagate_removals import PropagateRemovals
from clearcrawl.beam.read_shards import ReadShards
from clearcrawl.beam.shuffle_check import ShuffleCounts, shuffle_losses
from clearcrawl.beam.write_outputs import WriteOutputs
from clearcrawl.io.documents import make_document
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record
from clearcrawl.records import Document, ReadFailure
from clearcrawl.registry.load import load_registry
from tests.conftest import BUNDLED_REGISTRY, local_pipeline


def _rows(table):
    return table.to_pylist()


def _read(staging, folder: str) -> list[dict]:
    """Rows of the Parquet files in one staged output folder, by URL."""
    import pyarrow.parquet as pq

    rows = [row for path in sorted((staging / folder).glob("*.parquet"))
            for row in pq.read_table(path).to_pylist()]
    return sorted(rows, key=lambda r: (r.get("url") is None, r.get("url") or r["doc_id"]))


def _filter(config: RunConfig, shuffles: ShuffleCounts | None = None):
    """The run's steps from collecting evidence to writing the staged outputs, their
    shuffles counted in `shuffles`."""
    shuffles = shuffles or ShuffleCounts()
    return (CollectEvidence(config, shuffles) | MatchWorks(config, shuffles) | Decide(config)
            | PropagateRemovals(config, shuffles) | WriteOutputs(config))


def _assert_nothing_lost(pipeline, shuffles: ShuffleCounts, checked: set[str]):
    """Every shuffle in `checked` was counted, and gave out what it was given."""
    assert_that(shuffles.tallies(pipeline) | "AllTallies" >> beam.combiners.ToList()
                | "Judge" >> beam.Map(lambda tallies: (
                    {shuffle for shuffle, *_ in tallies} >= checked, shuffle_losses(tallies))),
                equal_to([(True, [])]), label="NothingLost")


def test_read_shards_splits_documents_and_failures(tmp_path):
    good = gzip_member(warc_record("response", http_response(b"<p>hello</p>"),
                                   target_uri="https://a.example/"))
    path = tmp_path / "s.warc.gz"
    path.write_bytes(good + good[:40])
    with local_pipeline() as p:
        out = p | beam.Create([str(path)]) | ReadShards(RunConfig("unused", str(tmp_path), max_record_bytes=1 << 20),
                                                          ShuffleCounts())
        records = out["records"] | beam.FlatMap(lambda batch: batch)
        assert_that(out["reads"], equal_to([2]), label="reads")
        assert_that(records | "Urls" >> beam.FlatMap(
                        lambda r: [(r.url, r.text)] if isinstance(r, Document) else []),
                    equal_to([("https://a.example/", "hello")]), label="docs")
        assert_that(records | "Kinds" >> beam.FlatMap(
                        lambda r: [] if isinstance(r, Document) else [(r.source_offset,
                                                                        r.error_kind)]),
                    equal_to([(len(good), "truncated_gzip")]), label="failures")


def test_decide_documents_with_a_read_failure(tmp_path):
    snapshot = load_registry(str(BUNDLED_REGISTRY))
    uri = str(snapshot.write(tmp_path))
    docs = [make_document(url=url, text="t", source_uri="mem", offset=i)
            for i, url in enumerate(["https://news.daily-herald.example/a",
                                     "https://city-magazine.example/premium/x",
                                     "https://elsewhere.example/"])]
    failure = ReadFailure("f1", "mem", 9, "truncated_gzip", "cut")
    staging = tmp_path / "staging"
    with local_pipeline() as p:
        written = (p | "Docs" >> beam.Create([[*docs, failure]])
                   | _filter(RunConfig(uri, str(staging))))
        # One receipt names the files written and tallies the four decisions.
        assert_that(written["receipts"] | beam.Map(lambda r: dict(r["decisions"])),
                    equal_to([{"keep": 1, "remove": 2, "error": 1}]), label="receipts")
    assert [(r["url"], r["decision"], [x["kind"] for x in r["reasons"]])
            for r in _read(staging, "ledger")] == [
        ("https://city-magazine.example/premium/x", "remove", ["url_optout"]),
        ("https://elsewhere.example/", "keep", []),
        ("https://news.daily-herald.example/a", "remove", ["domain_optout"]),
        (None, "error", [])]
    assert [r["url"] for r in _read(staging, "data")] == ["https://elsewhere.example/"]
    assert [(r["doc_id"], r["source_offset"], r["error_kind"])
            for r in _read(staging, "errors")] == [("f1", 9, "truncated_gzip")]
    # A text shorter than a 5-gram is one shingle: every document has a signature.
    assert sorted(r["doc_id"] for r in _read(staging, "signatures")) == sorted(
        d.doc_id for d in docs)


def test_propagation_gives_the_same_rows_whatever_the_key_shards(tmp_path):
    """Key blocks go through the shuffle in key shards, and the pairs found meet their
    staged files in a keyed join: one shard or several, the same rows."""
    from clearcrawl.synth_text import TextMaker

    snapshot = load_registry(str(BUNDLED_REGISTRY))
    uri = str(snapshot.write(tmp_path))
    maker = TextMaker(4)
    texts = [maker.prose(300) for _ in range(3)]
    docs = [make_document(url=url, text=text, source_uri="mem", offset=i)
            for i, (url, text) in enumerate([
                ("https://daily-herald.example/a", texts[0]),       # removed: opted-out site
                ("https://mirror.example/a", maker.edit(texts[0], 0.005)),  # its near-copy
                ("https://other.example/b", texts[1]),
                ("https://other.example/c", texts[2])])]
    expected = [("https://daily-herald.example/a", "remove", ["domain_optout"]),
                ("https://mirror.example/a", "remove", ["near_duplicate_of_removed"]),
                ("https://other.example/b", "keep", []),
                ("https://other.example/c", "keep", [])]
    for shards in (1, 7):
        staging = tmp_path / f"staging-{shards}"
        shuffles = ShuffleCounts()
        with local_pipeline() as p:
            _ = (p | f"Docs{shards}" >> beam.Create([docs[:2], docs[2:]])
                 | f"Filter{shards}" >> _filter(RunConfig(uri, str(staging),
                                                      match_shards=shards), shuffles))
            _assert_nothing_lost(p, shuffles, {"GroupShards", "JoinSources",
                                               "JoinStagedFiles"})
        assert [(r["url"], r["decision"], [x["kind"] for x in r["reasons"]])
                for r in _read(staging, "ledger")] == expected
        assert [r["url"] for r in _read(staging, "data")] == ["https://other.example/b",
                                                             "https://other.example/c"]


def test_join_strategy_carries_read_failures_and_decides_as_broadcast(tmp_path):
    """The works join takes documents one by one: read failures must reach the ledger
    beside them, and the decisions must equal the in-memory index's."""
    from clearcrawl.registry.source import load_source
    from clearcrawl.synth_text import TextMaker

    snapshot = load_registry(str(BUNDLED_REGISTRY))
    uri = str(snapshot.write(tmp_path))
    work = load_source(BUNDLED_REGISTRY).works[0]
    maker = TextMaker(9)
    docs = [make_document(url=f"https://copies.example/{i}", text=text, source_uri="mem",
                          offset=i)
            for i, text in enumerate([maker.edit(work["text"], 0.01),
                                      maker.prose(400), maker.prose(300)])]
    records = [*docs, ReadFailure("f9", "mem", 99, "corrupt_gzip", "bad member")]
    found = {}
    for works in ("broadcast", "join"):
        staging = tmp_path / works
        shuffles = ShuffleCounts()
        with local_pipeline() as p:
            _ = (p | f"Records-{works}" >> beam.Create([records[:2], records[2:]])
                 | f"Filter-{works}" >> _filter(RunConfig(uri, str(staging), works=works),
                                                shuffles))
            if works == "join":
                _assert_nothing_lost(p, shuffles, {"SpreadWorksFiles", "GroupWorkShards",
                                                   "CombinePairs", "JoinWorks",
                                                   "JoinFoundByDoc"})
        found[works] = [(r["doc_id"], r["decision"], [x["kind"] for x in r["reasons"]])
                        for r in _read(staging, "ledger")]
        assert [r["error_kind"] for r in _read(staging, "errors")] == ["corrupt_gzip"]
    assert found["join"] == found["broadcast"]
    assert ("f9", "error", []) in found["join"]
    assert any(kinds == ["work_near_duplicate"] for _, _, kinds in found["join"])
