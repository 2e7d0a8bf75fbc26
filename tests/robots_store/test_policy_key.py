"""`[policy] robots_unreachable_is_optout` in registry.toml: read, validated, in the id."""

import shutil

from clearcrawl.registry.snapshot import Snapshot
from clearcrawl.registry.source import load_source
from tests.conftest import BUNDLED_REGISTRY


def _registry(tmp_path, value: str):
    root = tmp_path / "reg"
    shutil.copytree(BUNDLED_REGISTRY, root, ignore=shutil.ignore_patterns("synced"))
    toml = root / "registry.toml"
    text = toml.read_text()
    assert "robots_unreachable_is_optout = false" in text  # documented in the bundled one
    toml.write_text(text.replace("robots_unreachable_is_optout = false",
                                 f"robots_unreachable_is_optout = {value}"))
    return load_source(root)


def test_the_key_is_read_and_changes_the_ids_only_when_set(tmp_path):
    bundled = Snapshot.from_source(load_source(BUNDLED_REGISTRY))
    assert bundled.policy.robots_unreachable_is_optout is False
    strict = Snapshot.from_source(_registry(tmp_path, "true"))
    assert strict.policy.robots_unreachable_is_optout is True
    assert strict.policy_id != bundled.policy_id
    assert strict.registry_id != bundled.registry_id


def test_a_value_that_is_not_a_boolean_is_a_problem_with_its_line(tmp_path):
    source = _registry(tmp_path, '"yes"')
    problems = [str(p) for p in source.problems]
    assert any(p.startswith("registry.toml:") and
               "robots_unreachable_is_optout must be true or false" in p for p in problems)
