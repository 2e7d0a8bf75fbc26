"""The robots store: journal recovery, content id, verification, reading; and the store
fed from a real run's ledger (`--from-output`), shown by `audit lookup --robots-store`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearcrawl.cli import main
from clearcrawl.core import robots_fetches as rf
from clearcrawl.core.urls import origin_key
from clearcrawl.robots_store import reading, store
from tests.conftest import BUNDLED_REGISTRY
from tests.robots_store.helpers import Server, fetch_command


def fetch(origin: str, day: int, outcome: str = rf.OK, body: bytes | None = b"User-agent: *\n"
          ) -> rf.RobotsFetch:
    body = body if outcome == rf.OK else None
    return rf.RobotsFetch(
        origin=origin, fetched_at=dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC),
        outcome=outcome, status={rf.OK: 200, rf.UNAVAILABLE: 404, rf.UNREACHABLE: None}[outcome],
        final_url=rf.robots_url(origin), redirect_chain=(), content_type="text/plain",
        body=body, body_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
        truncated=False, body_limit=512 * 1024,
        error="timeout after 10 s" if outcome == rf.UNREACHABLE else None, attempts=1)


ROWS = [fetch("http://a.test:80", 1), fetch("http://a.test:80", 3, rf.UNREACHABLE),
        fetch("https://b.test:443", 2, rf.UNAVAILABLE), fetch("http://c.test:80", 4, rf.UNREACHABLE),
        fetch("http://a.test:80", 2, body=b"User-agent: GPTBot\nDisallow: /\n")]


def write(folder: Path, rows: list[rf.RobotsFetch]) -> dict:
    writer = store.StoreWriter(folder)
    for row in rows:
        writer.add(row)
    return writer.close()


def test_rows_round_trip_and_the_applicable_fetch_per_origin(tmp_path):
    manifest = write(tmp_path / "s", ROWS)
    assert manifest["fetches"] == 5 and reading.verify_store(tmp_path / "s") == []
    assert sorted(reading.iter_fetches(tmp_path / "s"), key=repr) == sorted(ROWS, key=repr)
    applicable = {f.origin: f for f in reading.iter_applicable(tmp_path / "s")}
    # a.test: the day-2 success, not the later failure; c.test: only a failure.
    assert applicable == {"http://a.test:80": ROWS[4], "https://b.test:443": ROWS[2],
                          "http://c.test:80": ROWS[3]}
    assert reading.fresh_origins(tmp_path / "s", None) == {"http://a.test:80", "https://b.test:443"}
    assert reading.fresh_origins(tmp_path / "s", dt.datetime(2026, 11, 2, 13, tzinfo=dt.UTC)) \
        == set()


def test_store_id_follows_content_not_batching_order(tmp_path):
    one = write(tmp_path / "one", ROWS)
    two = write(tmp_path / "two", list(reversed(ROWS)))
    assert one["store_id"] == two["store_id"]
    three = write(tmp_path / "three", ROWS + [fetch("http://d.test:80", 5)])
    assert three["store_id"] != one["store_id"]


def test_a_leftover_journal_becomes_a_part_and_a_cut_line_is_ignored(tmp_path):
    folder = tmp_path / "s"
    writer = store.StoreWriter(folder)
    for row in ROWS[:3]:
        writer.add(row)
    journal, = (folder / "journal").glob("*.jsonl")
    with open(journal, "ab") as fh:  # the row being written when the process was killed
        fh.write(store._journal_line(ROWS[3])[:40])
    writer._lock.close()  # the process dies: its lock goes with it
    del writer
    recovering = store.StoreWriter(folder)
    assert recovering.recovered == 3
    manifest = recovering.close()
    assert manifest["fetches"] == 3 and not list((folder / "journal").iterdir())
    assert sorted(reading.iter_fetches(folder), key=repr) == sorted(ROWS[:3], key=repr)
    assert reading.verify_store(folder) == []


def test_one_writer_at_a_time(tmp_path):
    first = store.StoreWriter(tmp_path / "s")
    with pytest.raises(store.StoreBusy):
        store.StoreWriter(tmp_path / "s")
    first.close()
    store.StoreWriter(tmp_path / "s").close()


def test_verify_names_an_altered_body_an_edited_manifest_and_a_stray_part(tmp_path):
    folder = tmp_path / "s"
    write(folder, ROWS)
    part, = (folder / "parts").glob("*.parquet")
    table = pq.read_table(part)
    bodies = table["body"].to_pylist()
    bodies[0] = b"User-agent: *\nAllow: /\n"
    column = table.schema.get_field_index("body")
    pq.write_table(table.set_column(column, store.SCHEMA.field("body"),
                                    pa.array(bodies, pa.binary())), part)
    assert any("body does not match its sha256" in p for p in reading.verify_store(folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["store_id"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "parts" / "part-stray.parquet").write_bytes(part.read_bytes())
    problems = reading.verify_store(folder)
    assert any("store_id is not the id of its parts" in p for p in problems)
    assert any("part-stray.parquet: on disk but not in the manifest" in p for p in problems)


def test_a_folder_without_a_manifest_is_not_a_store(tmp_path):
    with pytest.raises(store.InvalidStore, match="no manifest"):
        list(reading.iter_fetches(tmp_path))


def test_from_output_fetches_every_origin_of_the_ledger_and_lookup_shows_them(
        synthetic_crawl, tmp_path, capsys):
    from clearcrawl.beam.pipeline import run

    out = tmp_path / "out"
    run(["--input", str(synthetic_crawl / "*.warc.gz"), "--registry", str(BUNDLED_REGISTRY),
         "--output", str(out)])
    ledger = pq.read_table(out / "ledger", columns=["url"])["url"].to_pylist()
    origins = {origin_key(u) for u in ledger if u}
    server = Server(tmp_path)
    try:
        done = fetch_command(tmp_path, server, "--from-output", str(out), "--store",
                             str(tmp_path / "store"))
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["fetched"] == len(origins) > 3
    rows = list(reading.iter_fetches(tmp_path / "store"))
    assert sorted(f.origin for f in rows) == sorted(origins)  # each once
    # The synthetic hosts are no case of the server: http ones get a 404 (no restriction);
    # https ones ask the proxy for a tunnel, which it refuses (unreachable).
    for f in rows:
        http = f.origin.startswith("http://")
        assert (f.outcome, f.status) == ((rf.UNAVAILABLE, 404) if http else
                                         (rf.UNREACHABLE, None)), f.origin
    refused = [f for f in rows if f.outcome == rf.UNREACHABLE]
    assert refused  # the synthetic crawl is https: HTTPS_PROXY was used
    assert all("403" in f.error for f in refused)

    domain = sorted(origins)[0].split("://")[1].rsplit(":", 1)[0]
    assert main(["audit", "lookup", str(out), "--domain", domain, "--robots-store",
                 str(tmp_path / "store")]) == 0
    answer = json.loads(capsys.readouterr().out)
    fetches = answer["robots_fetches"]
    assert fetches["store_id"] == store.read_manifest(tmp_path / "store")["store_id"]
    assert {e["origin"] for e in fetches["origins"]} == {
        o for o in origins if o.split("://")[1].rsplit(":", 1)[0] in (domain,)
        or o.split("://")[1].rsplit(":", 1)[0].endswith("." + domain)}
    assert all(len(e["fetches"]) == 1 for e in fetches["origins"])
    assert main(["audit", "lookup", str(out), "--domain", domain, "--robots-store",
                 str(tmp_path / "store"), "--format", "md"]) == 0
    assert "robots.txt fetches" in capsys.readouterr().out
    assert main(["audit", "lookup", str(out), "--url", "http://x.test/", "--robots-store",
                 str(tmp_path / "store")]) == 2


def test_duckdb_reads_the_store_and_finds_the_same_applicable_fetches(tmp_path):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is a dev dependency")
    write(tmp_path / "s", ROWS)
    parts = f"{tmp_path / 's' / 'parts'}/*.parquet"
    history = duckdb.sql(f"SELECT fetched_at, outcome, status FROM '{parts}' "
                         "WHERE origin = 'http://a.test:80' ORDER BY fetched_at").fetchall()
    assert [(t.day, o, s) for t, o, s in history] == [(1, "ok", 200), (2, "ok", 200),
                                                       (3, "unreachable", None)]
    latest = duckdb.sql(
        f"SELECT origin, body_sha256 FROM '{parts}' WHERE outcome IN ('ok', 'unavailable') "
        "QUALIFY row_number() OVER (PARTITION BY origin ORDER BY fetched_at DESC) = 1"
    ).fetchall()
    assert dict(latest) == {f.origin: f.body_sha256 for f in reading.iter_applicable(tmp_path / "s")
                            if f.successful}


def test_the_bulk_reader_picks_what_the_core_rule_picks_ties_included(tmp_path):
    import random

    rng = random.Random(19)
    rows = []
    for number in range(300):
        origin = f"http://o{number}.test:80"
        for _ in range(rng.randint(1, 5)):
            # Few distinct days and bodies, so equal times and ties are common.
            outcome = rng.choice(rf.OUTCOMES)
            rows.append(fetch(origin, rng.randint(1, 3), outcome,
                              body=rng.choice([b"a", b"b", b"User-agent: *\n"])))
    write(tmp_path / "s", rows)
    history: dict[str, list] = {}
    for row in rows:
        history.setdefault(row.origin, []).append(row)
    picked = {f.origin: f for f in reading.iter_applicable(tmp_path / "s")}
    assert picked == {origin: rf.current_robots(h, False).fetch for origin, h in history.items()}
