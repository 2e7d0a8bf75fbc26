"""The portal's libraries stay out of the pipeline: only clearcrawl.portal imports them,
and the CLI reaches the portal through one lazy import of a module that needs none."""

from __future__ import annotations

import ast

from tests.core.test_architecture import SRC, _imports

PORTAL_LIBRARIES = {"flask", "werkzeug", "jinja2", "waitress", "sqlalchemy", "alembic",
                    "argon2", "psycopg", "selenium"}


def test_only_the_portal_imports_its_libraries():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] == "portal":
            continue
        for name in _imports(path):
            if name.split(".")[0] in PORTAL_LIBRARIES:
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
            if name.startswith("clearcrawl.portal") and (
                    path.name != "cli.py" or name != "clearcrawl.portal.cli"):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


def test_the_portal_cli_imports_its_libraries_only_when_run():
    tree = ast.parse((SRC / "portal" / "cli.py").read_text())
    top = {alias.name for node in tree.body if isinstance(node, ast.Import)
           for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= {"__future__", "argparse", "getpass", "sys", "pathlib"}, top
