"""No import circle in clearcrawl.beam: the graph of its modules' imports is acyclic,
and each module imports on its own (no other beam module loaded first)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

BEAM = Path(__file__).resolve().parents[2] / "src" / "clearcrawl" / "beam"
MODULES = sorted(f"clearcrawl.beam.{p.stem}" for p in BEAM.glob("*.py") if p.stem != "__init__")


def _beam_imports(module: str) -> set[str]:
    tree = ast.parse((BEAM / f"{module.rsplit('.', 1)[1]}.py").read_text())
    found = set()
    for node in ast.walk(tree):  # function-level imports count too: they can still cycle
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "clearcrawl.beam":
                found |= {f"clearcrawl.beam.{a.name}" for a in node.names}
            elif node.module.startswith("clearcrawl.beam."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("clearcrawl.beam.")}
    return found & set(MODULES)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_beam_imports_form_no_circle():
    graph = {m: _beam_imports(m) for m in MODULES}
    assert len(graph) > 8 and graph["clearcrawl.beam.pipeline"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_check_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


_IMPORT_EACH = """
import importlib, sys
for module in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.startswith("clearcrawl.beam")]:
        del sys.modules[loaded]
    importlib.import_module(module)
    print(module)
"""


def test_each_beam_module_imports_alone():
    """In a fresh interpreter (not this one, whose modules other tests hold on to)."""
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *MODULES], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == MODULES
