"""`clearcrawl portal serve | add-operator` (contract in ARCHITECTURE.md).

Exit codes as the rest of the CLI: 0 success, 2 bad usage or invalid input with a
one-line reason (a registry folder that does not validate, a bad --db URL, a short
password), 1 when the server cannot start (e.g. the port is taken).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` and `add-operator` subcommands, on the `portal` parser of the CLI tree."""
    sub = parser.add_subparsers(dest="portal_command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="serve the rights-holder portal")
    serve.add_argument("--registry", required=True, metavar="PATH",
                       help="registry source folder that approved requests are written to")
    serve.add_argument("--db", metavar="URL", help="sqlite:///FILE or postgresql://... "
                       "(default: a SQLite file beside the registry folder)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--outputs", nargs="+", action="extend", default=[], metavar="DIR",
                       help="output folders whose runs the status pages report on")
    add = sub.add_parser("add-operator", help="create an operator, or set its password "
                         "(read from stdin)")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="URL")
    where.add_argument("--registry", metavar="PATH", help="use the default database of "
                       "this registry folder")
    add.add_argument("--username", required=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clearcrawl portal")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    try:
        from clearcrawl.portal.db import BadDatabaseUrl, default_url
    except ImportError as exc:
        print(f"clearcrawl portal needs the 'portal' extra (pip install 'clearcrawl[portal]'): "
              f"{exc}", file=sys.stderr)
        return 2

    try:
        url = args.db or default_url(args.registry)
        if args.portal_command == "add-operator":
            return _add_operator(url, args.username)
        return _serve(args, url)
    except BadDatabaseUrl as exc:
        print(f"clearcrawl portal: {exc}", file=sys.stderr)
        return 2


def _add_operator(url: str, username: str) -> int:
    from clearcrawl.portal import auth
    from clearcrawl.portal.db import open_database

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {username}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    sessions = open_database(url)
    with sessions() as db:
        try:
            created = auth.set_password(db, username, password)
        except ValueError as exc:
            print(f"clearcrawl portal add-operator: {exc}", file=sys.stderr)
            return 2
        auth.record(db, "command line", "operator_added" if created else "password_set",
                    "local", detail=username)
        db.commit()
    print(f"operator {username!r} {'created' if created else 'password replaced'}")
    return 0


def _serve(args, url: str) -> int:
    from clearcrawl.portal.app import build
    from clearcrawl.portal.server import make_server
    from clearcrawl.registry.source import load_source

    source = load_source(args.registry)
    if source.problems:
        print(f"clearcrawl portal: {args.registry} is not a valid registry folder: "
              f"{source.problems[0]}", file=sys.stderr)
        return 2
    missing = [d for d in args.outputs if not Path(d).is_dir()]
    if missing:
        print(f"clearcrawl portal: --outputs {missing[0]}: no such folder", file=sys.stderr)
        return 2
    app = build(args.registry, url, args.outputs)
    try:
        server = make_server(app, args.host, args.port)
    except OSError as exc:
        print(f"clearcrawl portal: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    print(f"clearcrawl portal on http://{args.host}:{server.effective_port}/ "
          f"(registry {args.registry}, database {_safe(url)}); Ctrl-C stops it", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _safe(url: str) -> str:
    """The URL without its password, for the log line."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
