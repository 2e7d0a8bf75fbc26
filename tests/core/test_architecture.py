"""Only clearcrawl.beam may import apache_beam (core/, registry/, audit/, io/ stay pure)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "clearcrawl"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_beam_outside_the_beam_package():
    offenders = []
    checked = 0
    for path in SRC.rglob("*.py"):
        if "beam" in path.relative_to(SRC).parts[:1]:
            continue
        checked += 1
        if any(name.split(".")[0] == "apache_beam" for name in _imports(path)):
            offenders.append(str(path.relative_to(SRC)))
    assert checked > 10
    assert offenders == []


def test_core_imports_no_io_or_beam_packages():
    for path in (SRC / "core").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith(("apache_beam", "clearcrawl.beam", "clearcrawl.io",
                                        "requests")), f"{path.name} imports {name}"


def test_the_check_detects_a_beam_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import apache_beam as beam\nfrom apache_beam.io import ReadFromText\n")
    assert {"apache_beam", "apache_beam.io"} <= _imports(sample)
