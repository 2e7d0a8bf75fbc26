"""Rights-holder requests: `registry add-optout` appends a validated entry and prints a receipt."""

from __future__ import annotations

import json
import shutil

import pytest

from clearcrawl.cli import main as cli_main
from clearcrawl.registry.snapshot import Snapshot
from clearcrawl.registry.source import load_source
from tests.conftest import BUNDLED_REGISTRY


@pytest.fixture
def registry(tmp_path):
    root = tmp_path / "reg"
    shutil.copytree(BUNDLED_REGISTRY, root, ignore=shutil.ignore_patterns("synced"))
    return root


def _add(capsys, *args) -> tuple[int, dict | str]:
    code = cli_main(["registry", "add-optout", *map(str, args)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def test_domain_request_becomes_a_rule_with_a_stable_receipt(registry, capsys):
    before = Snapshot.from_source(load_source(registry)).registry_id
    code, receipt = _add(capsys, registry, "--domain", "News.Example-Press.COM.",
                         "--rights-holder", "Example Press Ltd", "--date", "2026-11-28")
    assert code == 0
    assert receipt["pattern"] == "news.example-press.com" and receipt["created"] is True
    assert receipt["file"] == "domains/requests.csv" and receipt["line"] == 2
    rules = {r.entry_id: r for r in load_source(registry).domain_rules}
    rule = rules[receipt["entry_id"]]
    assert (rule.kind, rule.pattern, rule.rights_holder) == (
        "optout", "news.example-press.com", "Example Press Ltd")
    snapshot = Snapshot.from_source(load_source(registry))
    assert snapshot.registry_id != before
    [evidence] = snapshot.domain_index.match("https://a.news.example-press.com/story")
    assert evidence.entry_id == receipt["entry_id"]

    code, again = _add(capsys, registry, "--domain", "news.example-press.com",
                       "--rights-holder", "Example Press Ltd", "--date", "2026-12-01")
    assert code == 0 and again["entry_id"] == receipt["entry_id"] and again["created"] is False
    assert (registry / "domains" / "requests.csv").read_text().count("\n") == 2  # no duplicate


def test_url_prefix_and_work_requests(registry, capsys, tmp_path):
    code, prefix = _add(capsys, registry, "--url-prefix", "https://Blog.Example.org/2024/",
                        "--rights-holder", "A. Writer", "--date", "2026-11-28")
    assert code == 0 and prefix["pattern"] == "https://blog.example.org/2024/"
    work = tmp_path / "my-novel.txt"
    work.write_text("It was a bright cold day in April, and the clocks were striking. " * 20)
    code, receipt = _add(capsys, registry, "--work", work, "--rights-holder", "A. Writer",
                         "--kind", "optout", "--date", "2026-11-28")
    assert code == 0
    assert receipt["title"] == "my-novel" and receipt["file"] == "works/requests.jsonl"
    works = {w["entry_id"]: w for w in load_source(registry).works}
    assert works[receipt["entry_id"]]["text"].startswith("It was a bright cold day")
    assert load_source(registry).problems == []


@pytest.mark.parametrize("args, fragment", [
    (["--domain", "https://example.com/x"], "--domain takes a host"),
    (["--domain", "exa mple.com"], "invalid domain"),
    (["--url-prefix", "example.com/x"], "--url-prefix takes a URL"),
    (["--domain", "ok.example", "--rights-holder", "  "], "--rights-holder must name"),
    (["--domain", "ok.example", "--date", "tomorrow"], "--date must be YYYY-MM-DD"),
])
def test_invalid_requests_are_refused_and_nothing_is_written(registry, capsys, args, fragment):
    if "--rights-holder" not in args:
        args = [*args, "--rights-holder", "Someone"]
    code, err = _add(capsys, registry, *args)
    assert code == 2 and fragment in err, err
    assert not (registry / "domains" / "requests.csv").exists()


def test_a_broken_registry_is_not_edited(registry, capsys):
    (registry / "domains" / "bad.csv").write_text("entry_id,kind\n")
    code, err = _add(capsys, registry, "--domain", "ok.example", "--rights-holder", "X")
    assert code == 2 and "domains/bad.csv:1: header must be exactly" in err
    assert not (registry / "domains" / "requests.csv").exists()
