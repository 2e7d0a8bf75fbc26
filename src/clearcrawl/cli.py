"""Command line: one argparse tree, `clearcrawl run | refilter | registry ... | audit ...
| synth | robots fetch | portal ...`.

Each command group registers itself with an `_add_<group>(commands)` function that adds
its parsers and sets `handler(args, rest)`, so a new group is one function and one line
in COMMAND_GROUPS. Parsers import nothing heavy (no Beam, no pyarrow): `--help` at any
level is instant; handlers import what they need.

Exit codes: 0 success (and --help, --version); 1 a failed run or check; 2 bad usage or
invalid input files, with a one-line reason naming the file (and line, for registry
files). `run` and `refilter` pass the flags they do not know to Beam.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys


class _Parser(argparse.ArgumentParser):
    """argparse, with a suggestion for a mistyped command or choice."""

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            choices = [str(choice) for choice in action.choices]
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r} (choose from {', '.join(choices)}){hint}")
        super()._check_value(action, value)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clearcrawl")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from clearcrawl import __version__

        return __version__


def _subcommands(parser: argparse.ArgumentParser, title: str):
    return parser.add_subparsers(dest="command", metavar=title, required=True)


# ---------------------------------------------------------------- run, refilter

def _add_run(commands) -> None:
    from clearcrawl.beam.arguments import RUN_DESCRIPTION, add_run_arguments

    parser = commands.add_parser("run", help="filter crawl shards against an opt-out registry",
                                 description=RUN_DESCRIPTION, allow_abbrev=False)
    add_run_arguments(parser)
    parser.set_defaults(handler=_pipeline, beam_flags=True)


def _add_refilter(commands) -> None:
    from clearcrawl.beam.arguments import REFILTER_DESCRIPTION, add_refilter_arguments

    parser = commands.add_parser(
        "refilter", help="apply a newer registry to an output, without the crawl",
        description=REFILTER_DESCRIPTION, allow_abbrev=False)
    add_refilter_arguments(parser)
    parser.set_defaults(handler=_pipeline, beam_flags=True)


def _pipeline(args, rest: list[str]) -> int:
    """`rest`: every token after the command, Beam's flags included, which the
    pipeline parses again with the same parser."""
    from clearcrawl.beam.arguments import (
        REFILTER_WORKER_PATHS,
        RUN_WORKER_PATHS,
        local_worker_path,
    )

    # Checked again by the pipeline; here, before seconds of importing Beam.
    refusal = local_worker_path(args, args.beam_args, RUN_WORKER_PATHS
                                if args.command == "run" else REFILTER_WORKER_PATHS)
    if refusal:
        print(f"clearcrawl {args.command}: {refusal}", file=sys.stderr)
        return 2
    if args.command == "run":
        from clearcrawl.beam.pipeline import main as run_main

        return run_main(rest)
    from clearcrawl.beam.refilter import main as refilter_main

    return refilter_main(rest)


# ---------------------------------------------------------------- registry

def _add_registry(commands) -> None:
    registry = commands.add_parser("registry", help="validate | build | sync | add-optout",
                                   description="The opt-out registry: validate, build a "
                                               "snapshot, sync remote sources, add a request.")
    sub = _subcommands(registry, "{validate,build,sync,add-optout}")
    validate = sub.add_parser("validate", help="report every problem as file:line: message")
    validate.add_argument("path")
    validate.set_defaults(handler=_registry_build)
    build = sub.add_parser("build", help="compile a content-addressed snapshot")
    build.add_argument("path")
    build.add_argument("--output", required=True, metavar="SNAPSHOT_DIR")
    build.set_defaults(handler=_registry_build)
    sync = sub.add_parser("sync", help="fetch the remote [[sources]] of registry.toml")
    sync.add_argument("path")
    sync.add_argument("--source", action="append", metavar="NAME",
                      help="sync only this source (repeatable)")
    sync.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                      help="per request, and for all retries of a source together "
                           "(default %(default)s)")
    sync.add_argument("--retries", type=int, default=3,
                      help="retries of a failed request (default %(default)s)")
    sync.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                      help="backoff factor between retries (default %(default)s)")
    sync.add_argument("--max-mb", type=float, default=64.0)
    sync.set_defaults(handler=_registry_sync)
    add = sub.add_parser("add-optout", help="record a rights-holder request; prints the receipt")
    add.add_argument("path")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--domain", help="a host: the host and all its subdomains")
    what.add_argument("--url-prefix", help="every URL starting with this prefix")
    what.add_argument("--work", metavar="FILE", help="a UTF-8 text file holding the work")
    add.add_argument("--rights-holder", required=True)
    add.add_argument("--kind", choices=["optout", "piracy"], default="optout")
    add.add_argument("--title", default="", help="title of the work (default: file name)")
    add.add_argument("--note", default="")
    add.add_argument("--date", help="date of the request, YYYY-MM-DD (default: today)")
    add.set_defaults(handler=_registry_add)


def _registry_build(args, _rest) -> int:
    from clearcrawl.registry.snapshot import InvalidRegistry, Snapshot
    from clearcrawl.registry.source import load_source

    source = load_source(args.path)
    # `validate` is the strict check: a line of a synced list that is not a host rule is
    # an error there. `build` skips it with a warning, so a list with a few odd lines
    # stays usable (`sync` already refuses a body that is mostly not a domain list).
    strict = args.command == "validate"
    problems = source.problems + (source.warnings if strict else [])
    if not strict:
        for warning in source.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) in {args.path}", file=sys.stderr)
        return 2
    try:
        snapshot = Snapshot.from_source(source)
    except InvalidRegistry as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "validate":
        print(json.dumps(snapshot.summary(), indent=2))
        return 0
    path = snapshot.write(args.output)
    print(json.dumps({**snapshot.summary(), "snapshot": str(path)}, indent=2))
    return 0


def _registry_sync(args, _rest) -> int:
    from clearcrawl.registry.sync import SyncError, SyncLimits, sync_registry

    limits = SyncLimits(timeout_s=args.timeout, retries=max(0, args.retries),
                        backoff_s=max(0.0, args.backoff), max_bytes=int(args.max_mb * 2**20))
    try:
        results = sync_registry(args.path, limits, only=args.source)
    except SyncError as exc:
        print(f"registry sync: {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(result, file=sys.stdout if result.ok else sys.stderr)
    failed = [r.named for r in results if not r.ok]
    if failed:
        print(f"sync failed for {', '.join(failed)}; their previous copies are unchanged",
              file=sys.stderr)
        return 1
    return 0


def _registry_add(args, _rest) -> int:
    from pathlib import Path

    from clearcrawl.registry.add import BadRequest, add_optout
    from clearcrawl.registry.snapshot import InvalidRegistry

    work_text, title = None, args.title
    if args.work:
        try:
            work_text = Path(args.work).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{args.work}: cannot read the work as UTF-8 text: {exc}", file=sys.stderr)
            return 2
        title = title or Path(args.work).stem
    try:
        receipt = add_optout(args.path, rights_holder=args.rights_holder, kind=args.kind,
                             domain=args.domain, url_prefix=args.url_prefix,
                             work_text=work_text, title=title, note=args.note,
                             added=args.date)
    except (BadRequest, InvalidRegistry) as exc:
        print(f"add-optout: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(receipt.as_dict(), indent=2))
    return 0


# ---------------------------------------------------------------- audit

def _add_audit(commands) -> None:
    audit = commands.add_parser("audit", help="verify | eu-summary | lookup | report",
                                description="Check and report on a finished output folder.")
    sub = _subcommands(audit, "{verify,eu-summary,lookup,report}")
    verify = sub.add_parser("verify", help="recompute hashes, counts and ids of an output")
    verify.add_argument("dir")
    summary = sub.add_parser("eu-summary", help="sections of the EU AI Act public summary")
    summary.add_argument("dir")
    summary.add_argument("--sme", action="store_true",
                         help="SME rule: top 5 %% or 1,000 domains, whichever is more")
    summary.add_argument("--format", choices=["md", "json"], default="md")
    look = sub.add_parser("lookup", help="what was removed or kept for an entry, domain or URL")
    look.add_argument("dir")
    what = look.add_mutually_exclusive_group(required=True)
    what.add_argument("--entry")
    what.add_argument("--domain")
    what.add_argument("--url")
    look.add_argument("--format", choices=["md", "json"], default="json")
    look.add_argument("--robots-store", metavar="DIR",
                      help="with --domain: also the robots.txt fetch history of its origins")
    report = sub.add_parser("report", help="an HTML report readable offline")
    report.add_argument("dir")
    report.add_argument("--output", help="HTML file to write (default DIR/report.html)")
    for parser in (verify, summary, look, report):
        parser.set_defaults(handler=_audit)


def _file_access(root: str):
    """(opener, lister, writer): plain files for local folders, so audits need no Beam;
    Beam's file systems for gs:// and other remote folders."""
    if "://" in root and not root.startswith("file://"):
        from clearcrawl.beam.outputs import list_files, open_uri, write_bytes

        return open_uri, list_files, write_bytes
    from clearcrawl.localfiles import list_local_files, write_atomically

    return (lambda path: open(path, "rb")), list_local_files, write_atomically


def _audit(args, _rest) -> int:
    from clearcrawl.audit import auditing

    root = args.dir.rstrip("/")
    open_uri, list_files, write_bytes = _file_access(root)
    if args.command == "verify":
        from clearcrawl.audit.verify import verify_output

        problems = verify_output(root, open_uri, list_files)
        if problems:
            print(f"audit verify FAILED: {problems[0]}", file=sys.stderr)
            for more in problems[1:]:
                print(f"  also: {more}", file=sys.stderr)
            return 1
        print(f"audit verify OK: {root} (every file, count, id and the ledger root match)")
        return 0
    try:
        run = auditing.open_run(root, open_uri)
    except auditing.NotAnOutput as exc:
        print(f"clearcrawl audit: {exc}", file=sys.stderr)
        return 2
    if args.command == "eu-summary":
        from clearcrawl.audit import eu_summary

        result = eu_summary.summarize(run.manifest, run.ledger_rows(), run.snapshot(),
                                      sme=args.sme, crawls=run.crawls())
        print(json.dumps(result, indent=2) if args.format == "json"
              else eu_summary.to_markdown(result))
        return 0
    if args.command == "lookup":
        from clearcrawl.audit import lookup

        answer = lookup.lookup(run.ledger_rows(), entry=args.entry, domain=args.domain,
                               url=args.url)
        if args.robots_store:
            from clearcrawl.robots_store.store import InvalidStore

            if not args.domain:
                print("clearcrawl audit lookup: --robots-store needs --domain", file=sys.stderr)
                return 2
            try:
                answer["robots_fetches"] = lookup.robots_history(args.robots_store, args.domain)
            except InvalidStore as exc:
                print(f"clearcrawl audit lookup: {exc}", file=sys.stderr)
                return 2
        print(json.dumps(answer, indent=2) if args.format == "json"
              else lookup.to_markdown(answer))
        return 0
    from clearcrawl.audit.report import render

    target = args.output or f"{root}/report.html"
    write_bytes(target, render(run.manifest, run.ledger_rows()).encode())
    print(f"wrote {target}")
    return 0


# ---------------------------------------------------------------- synth

def _add_synth(commands) -> None:
    from clearcrawl.synth import DESCRIPTION, add_synth_arguments, run_synth

    parser = commands.add_parser("synth", help="generate a seeded Common-Crawl-like sample crawl",
                                 description=DESCRIPTION)
    add_synth_arguments(parser)
    parser.set_defaults(handler=lambda args, _rest: run_synth(args))


# ---------------------------------------------------------------- robots

def _add_robots(commands) -> None:
    from clearcrawl.robots_store.cli import add_arguments, run

    parser = commands.add_parser("robots", help="fetch: today's robots.txt of origins into "
                                 "a robots store")
    add_arguments(parser)
    parser.set_defaults(handler=lambda args, _rest: run(args))


# ---------------------------------------------------------------- portal

def _add_portal(commands) -> None:
    from clearcrawl.portal.cli import add_arguments, run

    parser = commands.add_parser("portal", help="serve | add-operator: the rights-holder "
                                 "portal (the `portal` extra)")
    add_arguments(parser)
    parser.set_defaults(handler=lambda args, _rest: run(args))


# ---------------------------------------------------------------- the tree

COMMAND_GROUPS = (_add_run, _add_refilter, _add_registry, _add_audit, _add_synth, _add_robots,
                  _add_portal)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="clearcrawl",
                     description="Filter web crawls for AI training: honour every "
                                 "machine-readable opt-out and keep a provenance ledger.",
                     epilog="`clearcrawl COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = _subcommands(parser, "COMMAND")
    for add_group in COMMAND_GROUPS:
        add_group(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    if unknown and not getattr(args, "beam_flags", False):
        return _usage_error(parser, argv, f"unrecognized arguments: {' '.join(unknown)}")
    args.beam_args = unknown
    # Tokens after the command word (the top level's options all exit): a pipeline
    # parses them again, Beam's flags included.
    rest = argv[argv.index(args.command) + 1:] if args.command in argv else []
    return args.handler(args, rest)


def _usage_error(parser: argparse.ArgumentParser, argv: list[str], message: str) -> int:
    """argparse's own report of the error (usage line, reason), exit status 2."""
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 2


def entry_point() -> None:
    """The console script: ends the process through clearcrawl.exiting, so that a
    finished command exits with its status, not an abort in interpreter teardown."""
    from clearcrawl.exiting import run_and_exit

    run_and_exit(main)


if __name__ == "__main__":
    entry_point()
