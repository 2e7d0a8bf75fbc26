"""Registry source folder: the bundled registry, precise problems, stable snapshot ids."""

from __future__ import annotations

import shutil
from pathlib import Path

from clearcrawl.registry.snapshot import Snapshot
from clearcrawl.registry.source import load_source
from tests.conftest import BUNDLED_REGISTRY


def test_bundled_registry_is_valid_and_declares_the_real_lists():
    source = load_source(BUNDLED_REGISTRY)
    assert source.problems == []
    urls = {s.name: s.url for s in source.sources}
    assert "blocklistproject/Lists" in urls["blocklistproject-piracy"]
    assert "ut1-blacklists" in urls["ut1-warez"]
    assert urls["ai-robots-txt-agents"].endswith("robots.json")
    assert {r.kind for r in source.domain_rules} == {"optout", "piracy"}
    assert "GPTBot" in source.policy.robots_agents
    assert "Googlebot" not in source.policy.robots_agents  # search engines do not count


LONG = " ".join(f"word{i}" for i in range(30))


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "reg"
    shutil.copytree(BUNDLED_REGISTRY, target, ignore=shutil.ignore_patterns("synced"))
    return target


def test_one_problem_per_error_with_file_and_line(tmp_path):
    root = _copy(tmp_path)
    csv = root / "domains" / "later.csv"
    csv.write_text("entry_id,kind,pattern,rights_holder,added,source,note\n"
                   "ok-1,optout,fine.example,,2026-01-01,,\n"
                   "ex-optout-0001,optout,dup.example,,,,\n"       # 3: duplicate id
                   "bad-kind,block,x.example,,,,\n"                # 4: unknown kind
                   "bad-host,optout,exa mple.com,,,,\n"            # 5: bad pattern
                   "bad-date,optout,y.example,,yesterday,,\n"      # 6: bad date
                   "short,optout\n")                               # 7: columns
    (root / "works" / "w.jsonl").write_text(
        f'{{"entry_id": "w-1", "kind": "optout", "text": "{LONG}"}}\n'
        '{"entry_id": "w-2", "kind": "optout"}\n'                 # 2: missing text
        "not json\n"                                             # 3: invalid JSON
        '{"entry_id": "w-3", "kind": "optout", "text": "too short"}\n')  # 4
    (root / "tdmrep" / "site.example.json").write_text('{"location": "/"}')
    toml = root / "registry.toml"
    toml.write_text(toml.read_text().replace("noarchive_is_optout = false",
                                             "noarchive_is_optout = 3\nsurprise = 1"))
    problems = [str(p) for p in load_source(root).problems]
    expected_prefixes = [
        "domains/later.csv:3: duplicate entry_id 'ex-optout-0001'",
        "domains/later.csv:4: unknown kind 'block'",
        "domains/later.csv:5: bad pattern",
        "domains/later.csv:6: added must be a date",
        "domains/later.csv:7: expected 7 columns",
        "works/w.jsonl:2: missing field 'text'",
        "works/w.jsonl:3: invalid JSON",
        "works/w.jsonl:4: text too short to match as content",
        "tdmrep/site.example.json:1: tdmrep.json must be a JSON array",
    ]
    for prefix in expected_prefixes:
        assert sum(p.startswith(prefix) for p in problems) == 1, (prefix, problems)
    toml_lines = [p for p in problems if p.startswith("registry.toml:")]
    assert any("unknown policy key 'surprise'" in p for p in toml_lines)
    assert any("noarchive_is_optout must be true or false" in p for p in toml_lines)
    assert len(problems) == len(expected_prefixes) + 2


def test_snapshot_id_is_stable_and_content_addressed(tmp_path):
    first = Snapshot.from_source(load_source(BUNDLED_REGISTRY))
    again = Snapshot.from_source(load_source(_copy(tmp_path)))
    assert first.registry_id == again.registry_id
    assert first.to_bytes() == again.to_bytes()
    root = tmp_path / "reg"
    csv = root / "domains" / "examples.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")  # order only
    assert Snapshot.from_source(load_source(root)).registry_id == first.registry_id
    csv.write_text(csv.read_text().replace("torrent-index.example", "torrent-index2.example"))
    changed = Snapshot.from_source(load_source(root))
    assert changed.registry_id != first.registry_id
    assert Snapshot.from_bytes(changed.to_bytes()).registry_id == changed.registry_id


def test_snapshot_refuses_altered_content():
    snap = Snapshot.from_source(load_source(BUNDLED_REGISTRY))
    import gzip

    tampered = gzip.decompress(snap.to_bytes()).replace(b"daily-herald", b"daily-heralx")
    try:
        Snapshot.from_bytes(tampered)
    except ValueError as exc:
        assert "does not match" in str(exc)
    else:
        raise AssertionError("tampered snapshot was accepted")


def test_synced_domain_list_is_loaded_from_the_real_blocklist(tmp_path, shared_data):
    root = _copy(tmp_path)
    (root / "synced").mkdir()
    shutil.copy(shared_data / "blocklists" / "blocklistproject" / "piracy.txt",
                root / "synced" / "blocklistproject-piracy.txt")
    source = load_source(root)
    assert source.problems == []
    synced = [r for r in source.domain_rules if r.source == "blocklistproject-piracy"]
    assert len(synced) == 2154  # the list's own header says "Entries: 2,154"
    assert synced[0].entry_id.startswith("blocklistproject-piracy:")
    index = Snapshot.from_source(source).domain_index
    assert [e.kind for e in index.match("https://www.1337x.to/torrent/1")] == ["piracy_domain"]


def test_source_declarations_and_work_ids_are_checked_with_their_lines(tmp_path):
    root = _copy(tmp_path)
    toml = root / "registry.toml"
    base = toml.read_text()
    toml.write_text(base + '\n[[sources]]\nname = "bad-format"\nurl = "https://x.example/l"\n'
                    'format = "xml"\n'
                    '\n[[sources]]\nname = "plain-http"\nurl = "http://x.example/l"\n'
                    'format = "domains"\nkind = "piracy"\n'
                    '\n[[sources]]\nname = "bad-pin"\nurl = "https://x.example/l"\n'
                    'format = "domains"\nkind = "piracy"\nsha256 = "abc"\n')
    (root / "works" / "w.jsonl").write_text(
        f'{{"entry_id": "ex-optout-0001", "kind": "optout", "text": "{LONG}"}}\n'
        f'{{"entry_id": "w-1", "kind": "ebook", "text": "{LONG}"}}\n'
        f'{{"entry_id": "w-2", "kind": "optout", "text": "{LONG}", "isbn": "1"}}\n')
    lines = base.count("\n")
    problems = sorted(str(p) for p in load_source(root).problems)
    assert problems == sorted([
        f"registry.toml:{lines + 2}: format must be one of csv, domains, robots-json, got 'xml'",
        f"registry.toml:{lines + 7}: http://x.example/l: plain http is refused; use https or "
        "set insecure = true",
        f"registry.toml:{lines + 13}: sha256 must be 64 hex digits (the digest of the body)",
        "works/w.jsonl:1: duplicate entry_id 'ex-optout-0001' (first in domains/examples.csv:2)",
        "works/w.jsonl:2: unknown kind 'ebook' (expected optout or piracy)",
        "works/w.jsonl:3: unknown field 'isbn'",
    ])


def test_snapshot_with_another_minhash_scheme_is_refused():
    import hashlib

    import pytest

    from clearcrawl.registry.snapshot import InvalidRegistry, canonical_json

    snap = Snapshot.from_source(load_source(BUNDLED_REGISTRY))
    content = {**snap.content, "matching": {**snap.content["matching"], "scheme": "other/1"}}
    forged = Snapshot(content, hashlib.sha256(canonical_json(content)).hexdigest())
    with pytest.raises(InvalidRegistry, match="rebuild the snapshot"):
        Snapshot.from_bytes(forged.to_bytes())


def test_public_suffix_rules_are_refused_naming_file_and_line(tmp_path, capsys):
    from clearcrawl.cli import main

    root = _copy(tmp_path)
    (root / "domains" / "hosting.csv").write_text(
        "entry_id,kind,pattern,rights_holder,added,source,note\n"
        "own-1,optout,user.github.io,,,,\n"        # 2: a registrable domain: fine
        "psl-1,optout,co.uk,,,,\n"                 # 3: ICANN suffix
        "psl-2,piracy,GitHub.IO.,,,,\n"            # 4: private suffix, odd spelling
        "own-2,optout,https://github.io/docs/,,,,\n")  # 5: a URL prefix: one host only
    assert main(["registry", "validate", str(root)]) == 2
    err = capsys.readouterr().err
    assert "domains/hosting.csv:3: bad pattern: 'co.uk' is a public suffix" in err, err
    assert "domains/hosting.csv:4: bad pattern: 'github.io' is a public suffix" in err, err
    assert ":2:" not in err and ":5:" not in err
    assert "2 problem(s)" in err
