"""Works stay data: a snapshot's works live in sha256-listed files beside it, its
registry_id is the full content's hash computed over them, and a worker reads them
file by file, refusing any file that is not the one listed."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from clearcrawl.registry import snapshot as snapshot_module
from clearcrawl.registry.load import load_registry
from clearcrawl.registry.snapshot import (
    INLINE_WORKS_FORMAT,
    WORKER_BYTES_PER_SHINGLE,
    WORKER_BYTES_PER_WORK,
    InvalidRegistry,
    Snapshot,
    canonical_json,
    content_of,
)
from clearcrawl.registry.source import load_source
from tests.conftest import BUNDLED_REGISTRY


@pytest.fixture
def built(tmp_path, monkeypatch):
    """The bundled registry (3 works) built with 2 works a file: two works files."""
    monkeypatch.setattr(snapshot_module, "WORKS_PER_FILE", 2)
    snapshot = Snapshot.from_source(load_source(BUNDLED_REGISTRY))
    snapshot.write(tmp_path / "snap")
    return tmp_path / "snap"


def test_works_are_files_beside_a_snapshot_that_holds_none(built):
    source = load_source(BUNDLED_REGISTRY)
    full = content_of(source)
    assert sorted(p.name for p in (built / "works").iterdir()) == [
        "part-00000.jsonl.gz", "part-00001.jsonl.gz"]
    doc = json.loads(gzip.decompress((built / "snapshot.json.gz").read_bytes()))
    assert "works" not in doc["content"] and b"\"signature\"" not in canonical_json(doc)
    assert [(f["path"], f["count"]) for f in doc["works"]] == [
        ("works/part-00000.jsonl.gz", 2), ("works/part-00001.jsonl.gz", 1)]
    for listed in doc["works"]:
        data = (built / listed["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == listed["sha256"]
    # registry_id is what it always was: the hash of the full content, works included.
    loaded = load_registry(str(built))
    assert loaded.registry_id == hashlib.sha256(canonical_json(full)).hexdigest()
    assert list(loaded.work_records()) == full["works"]
    assert [w.entry_id for w in loaded.works.infos] == [w["entry_id"] for w in full["works"]]
    loaded.verify_works()


def test_works_bytes_come_from_the_listing_without_reading_a_work(built):
    bare = Snapshot.from_bytes((built / "snapshot.json.gz").read_bytes())  # no reader
    works = content_of(load_source(BUNDLED_REGISTRY))["works"]
    assert bare.works_count == 3
    assert bare.works_bytes() == sum(WORKER_BYTES_PER_WORK + WORKER_BYTES_PER_SHINGLE
                                     * w["shingle_count"] for w in works)
    with pytest.raises(InvalidRegistry, match="cannot be read"):
        list(bare.work_records())


def _rewrite(path, edit):
    lines = gzip.decompress(path.read_bytes()).splitlines()
    path.write_bytes(gzip.compress(b"\n".join(edit(lines)) + b"\n", mtime=0))


def test_a_tampered_works_file_is_refused(built):
    part = built / "works" / "part-00001.jsonl.gz"
    _rewrite(part, lambda lines: [line.replace(b'"optout"', b'"piracy"') for line in lines])
    snapshot = load_registry(str(built))  # rules and policy still load
    snapshot.works_file_records(snapshot.works_files[0])  # the other file is intact
    with pytest.raises(InvalidRegistry, match="part-00001.jsonl.gz: sha256 .*altered"):
        snapshot.works_file_records(snapshot.works_files[1])
    with pytest.raises(InvalidRegistry, match="part-00001"):
        snapshot.verify_works()


def test_a_works_file_and_listing_changed_together_break_the_registry_id(built):
    """A consistent forgery of file and listing still fails: the id covers every work."""
    part = built / "works" / "part-00000.jsonl.gz"
    _rewrite(part, lambda lines: lines[:1] + [lines[1].replace(b"Press", b"Prose")])
    doc = json.loads(gzip.decompress((built / "snapshot.json.gz").read_bytes()))
    doc["works"][0]["sha256"] = hashlib.sha256(part.read_bytes()).hexdigest()
    doc["header_sha256"] = hashlib.sha256(canonical_json(
        {"content": doc["content"], "works": doc["works"]})).hexdigest()
    (built / "snapshot.json.gz").write_bytes(gzip.compress(canonical_json(doc)))
    snapshot = load_registry(str(built))
    with pytest.raises(InvalidRegistry, match="does not match its registry_id"):
        snapshot.verify_works()


def test_a_missing_works_file_is_named(built):
    (built / "works" / "part-00000.jsonl.gz").unlink()
    with pytest.raises(InvalidRegistry, match="part-00000.jsonl.gz: works file missing"):
        load_registry(str(built)).verify_works()


def test_a_snapshot_with_works_inside_still_loads_with_its_id(tmp_path):
    """Outputs written before works had files hold format 2 snapshots: still readable."""
    full = content_of(load_source(BUNDLED_REGISTRY))
    registry_id = hashlib.sha256(canonical_json(full)).hexdigest()
    old = gzip.compress(canonical_json({"format": INLINE_WORKS_FORMAT,
                                        "registry_id": registry_id, "content": full}))
    snapshot = Snapshot.from_bytes(old)
    assert snapshot.registry_id == registry_id and snapshot.works_count == 3
    assert list(snapshot.work_records()) == full["works"]
    snapshot.verify_works()
    assert Snapshot.from_source(load_source(BUNDLED_REGISTRY)) == snapshot
