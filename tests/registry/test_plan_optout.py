"""`registry.add.plan_optout`: a request validated without a registry (the portal's
preview when a request is filed); add_optout writes exactly the entry it planned."""

from __future__ import annotations

import shutil

import pytest

from clearcrawl.registry.add import (
    DOMAIN_REQUESTS,
    WORK_REQUESTS,
    BadRequest,
    add_optout,
    plan_optout,
)
from clearcrawl.registry.source import load_source
from tests.conftest import BUNDLED_REGISTRY

WORK = "a river crossing kept in a ledger of carts oxen and the names of every ferry " * 3


def test_plan_is_what_add_writes(tmp_path):
    registry = tmp_path / "reg"
    shutil.copytree(BUNDLED_REGISTRY, registry, ignore=shutil.ignore_patterns("synced"))
    planned = plan_optout(rights_holder=" Example  Press ", domain="News.Example.COM.",
                          added="2026-12-01", source="portal")
    work = plan_optout(rights_holder="A. Writer", work_text=WORK, title="Ferry",
                       added="2026-12-01")
    assert (planned.file, planned.pattern, planned.rights_holder) == (
        DOMAIN_REQUESTS, "news.example.com", "Example Press")
    assert work.file == WORK_REQUESTS and work.title == "Ferry"
    assert not (registry / "domains" / "requests.csv").exists()  # nothing written
    receipt = add_optout(registry, rights_holder="Example Press", domain="news.example.com",
                         added="2026-12-01", source="portal")
    assert receipt.entry_id == planned.entry_id
    lines = (registry / DOMAIN_REQUESTS).read_text().splitlines()
    assert lines[1] == planned.line and lines[1].split(",")[5] == "portal"
    assert add_optout(registry, rights_holder="A. Writer", work_text=WORK, title="Ferry",
                      added="2026-12-01").entry_id == work.entry_id
    assert load_source(registry).problems == []


def test_a_work_too_short_is_refused_with_the_validators_rule(tmp_path):
    with pytest.raises(BadRequest, match="text too short to match as content: at least 20"):
        plan_optout(rights_holder="A. Writer", work_text="only a few words here")
