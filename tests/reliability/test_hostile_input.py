"""Hostile input, end to end: every odd file becomes counted error rows or handled
documents, a decompression bomb is streamed past in bounded memory, an invalid registry
is refused before any shard is read, and nothing read from outside is trusted."""

from __future__ import annotations

import io
import re
import shutil
import tracemalloc
import zlib
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearcrawl.cli import main
from clearcrawl.io.warc import iter_records
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record
from clearcrawl.registry.source import load_source
from tests.conftest import BUNDLED_REGISTRY, REPO

BOMB_BYTES = 200 * 2**20


def _bomb_member() -> bytes:
    """One gzip member holding a response record with a 200 MB body of zeros (~200 KB)."""
    http_head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                 b"Content-Length: %d\r\n\r\n" % BOMB_BYTES)
    head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://bomb.example/\r\n"
            b"WARC-Date: 2026-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:bomb>\r\n"
            b"Content-Type: application/http; msgtype=response\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(http_head) + BOMB_BYTES))
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [packer.compress(head + http_head)]
    zeros = bytes(1 << 20)
    for _ in range(BOMB_BYTES >> 20):
        parts.append(packer.compress(zeros))
    parts.append(packer.compress(b"\r\n\r\n") + packer.flush())
    return b"".join(parts)


def _page(url: str, body: bytes, headers: dict | None = None, record_id: str | None = None):
    return gzip_member(warc_record("response", http_response(body, headers), target_uri=url,
                                   record_id=record_id))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    after = _page("https://after.example/", b"<p>the record after the bomb</p>")
    (folder / "bomb.warc.gz").write_bytes(_bomb_member() + after)
    (folder / "empty.warc").write_bytes(b"")
    (folder / "only-warcinfo.warc.gz").write_bytes(
        gzip_member(warc_record("warcinfo", b"software: test\r\n")))
    (folder / "not-a-warc.warc").write_bytes(b"<html>this is a web page, not a WARC</html>\n" * 50)
    (folder / "duplicate-ids.warc.gz").write_bytes(
        _page("https://dup.example/a", b"<p>first</p>", record_id="urn:uuid:same")
        + _page("https://dup.example/b", b"<p>second</p>", record_id="urn:uuid:same"))
    (folder / "bad-text.warc.gz").write_bytes(
        _page("https://latin.example/", "<p>caf\u00e9 cr\u00e8me</p>".encode("latin-1"),
              {"Content-Type": "text/html; charset=utf-8"})          # wrong declared charset
        + _page("https://broken.example/", b"<p>ok \xff\xfe\x80 bytes</p>")  # invalid UTF-8
        + _page("https://empty.example/", b"<html><body></body></html>")   # no text at all
        + _page("https://image.example/x.png", b"\x89PNG\r\n\x1a\n" + bytes(300),
                {"Content-Type": "image/png"}))
    return folder


def test_a_decompression_bomb_is_streamed_past_in_bounded_memory(hostile):
    tracemalloc.start()
    with open(hostile / "bomb.warc.gz", "rb") as fh:
        items = list(iter_records(fh, max_record_bytes=64 * 2**20))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [getattr(i, "error_kind", "record") for i in items] == ["record_too_large", "record"]
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MB while skipping a 200 MB record"


def test_every_hostile_file_is_accounted(hostile, tmp_path, caplog, capsys):
    out = tmp_path / "out"
    caplog.set_level("DEBUG")
    assert main(["run", "--input", f"{hostile}/*.warc", "--input", f"{hostile}/*.warc.gz",
                 "--registry", str(BUNDLED_REGISTRY), "--output", str(out)]) == 0
    printed = caplog.text + "".join(capsys.readouterr())
    assert "the record after the bomb" not in printed  # logs never carry document text
    ledger = [r for p in (out / "ledger").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    errors = {r["doc_id"]: r for p in (out / "errors").glob("*.parquet")
              for r in pq.read_table(p).to_pylist()}
    by_file: dict[str, list] = {}
    for row in ledger:
        kind = errors[row["doc_id"]]["error_kind"] if row["decision"] == "error" else "doc"
        by_file.setdefault(Path(row["source_uri"]).name, []).append(kind)
    assert Counter(by_file["bomb.warc.gz"]) == Counter(["record_too_large", "doc"])
    assert by_file["not-a-warc.warc"] == ["bad_warc_header"]
    assert by_file["duplicate-ids.warc.gz"] == ["doc", "doc"]
    assert Counter(by_file["bad-text.warc.gz"]) == Counter(["doc", "doc", "doc", "not_text"])
    assert "empty.warc" not in by_file and "only-warcinfo.warc.gz" not in by_file
    assert len({r["doc_id"] for r in ledger}) == len(ledger)
    texts = {r["url"]: r["text"] for p in (out / "data").glob("*.parquet")
             for r in pq.read_table(p).to_pylist()}
    assert "caf" in texts["https://latin.example/"]  # decoded despite the wrong charset
    assert "\ufffd" in texts["https://broken.example/"] or "ok" in texts["https://broken.example/"]
    assert main(["audit", "verify", str(out)]) == 0


def test_an_invalid_registry_is_refused_before_any_shard_is_read(tmp_path, capsys):
    registry = tmp_path / "reg"
    shutil.copytree(BUNDLED_REGISTRY, registry, ignore=shutil.ignore_patterns("synced"))
    (registry / "domains" / "bad.csv").write_text(
        "entry_id,kind,pattern,rights_holder,added,source,note\nx,block,a.example,,,,\n")
    expected = str(load_source(registry).problems[0])
    shard = tmp_path / "shard.warc"
    shard.write_bytes(b"")
    code = main(["run", "--input", str(shard), "--registry", str(registry),
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err
    assert not (tmp_path / "out").exists()  # nothing was started


def test_source_names_cannot_escape_the_registry_folder(tmp_path):
    root = tmp_path / "reg"
    root.mkdir()
    (root / "registry.toml").write_text(
        'name = "t"\n[[sources]]\nname = "../../etc/evil"\nurl = "https://x.example/l"\n'
        'format = "domains"\nkind = "piracy"\n')
    problems = [str(p) for p in load_source(root).problems]
    assert any("source name '../../etc/evil'" in p for p in problems)
    (root / "registry.toml").write_text('name = "t"\n')
    (root / "robots").mkdir()
    (root / "robots" / "..%2f..%2fetc.txt").write_text("User-agent: *\nDisallow: /\n")
    assert any("file name must be a host" in str(p) for p in load_source(root).problems)


def test_nothing_read_from_outside_is_unpickled_or_evaluated():
    pattern = re.compile(r"\b(pickle\.loads?|marshal\.loads?|yaml\.load|eval|exec)\s*\(|"
                         r"allow_pickle\s*=\s*True")
    offenders = {f"{p.relative_to(REPO)}:{n}" for p in (REPO / "src").rglob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)}
    # The one exception reads nothing from outside: the crawl-time robots join spills a
    # bundle's document batches to its own run's staging folder and reads them back in
    # the same run, with the trust Beam's own pickled shuffle data has.
    spill = REPO / "src/clearcrawl/beam/crawl_robots.py"
    allowed = {f"{spill.relative_to(REPO)}:{n}"
               for n, line in enumerate(spill.read_text().splitlines(), 1)
               if "records = pickle.load(fh)" in line}
    assert len(allowed) == 1
    assert offenders - allowed == set()
    # Snapshots are JSON; one that is not is refused, never loaded another way.
    from clearcrawl.registry.snapshot import InvalidRegistry, Snapshot

    with pytest.raises((InvalidRegistry, ValueError)):
        Snapshot.from_bytes(io.BytesIO(b"\x80\x04\x95pickle").getvalue())
