"""Command line: `clearcrawl run | registry ... | audit ... | synth`.

Exit codes: 0 success; 1 a failed run or check; 2 bad usage or invalid input
files, with a one-line reason naming the file (and line, for registry files).
"""

from __future__ import annotations

import argparse
import json
import sys


def _registry(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clearcrawl registry")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="report every problem as file:line: message")
    validate.add_argument("path")
    build = sub.add_parser("build", help="compile a content-addressed snapshot")
    build.add_argument("path")
    build.add_argument("--output", required=True, metavar="SNAPSHOT_DIR")
    sync = sub.add_parser("sync", help="fetch the remote [[sources]] of registry.toml")
    sync.add_argument("path")
    sync.add_argument("--source", action="append", metavar="NAME",
                      help="sync only this source (repeatable)")
    sync.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    sync.add_argument("--retries", type=int, default=3)
    sync.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS")
    sync.add_argument("--max-mb", type=float, default=64.0)
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
    args = parser.parse_args(argv)
    if args.command == "sync":
        return _registry_sync(args)
    if args.command == "add-optout":
        return _registry_add(args)
    return _registry_build(args)


def _registry_build(args) -> int:
    from clearcrawl.registry.snapshot import InvalidRegistry, Snapshot
    from clearcrawl.registry.source import load_source

    source = load_source(args.path)
    for warning in source.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if source.problems:
        for problem in source.problems:
            print(problem, file=sys.stderr)
        print(f"{len(source.problems)} problem(s) in {args.path}", file=sys.stderr)
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


def _registry_sync(args) -> int:
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
    failed = [r.source for r in results if not r.ok]
    if failed:
        print(f"sync failed for {', '.join(failed)}; their previous copies are unchanged",
              file=sys.stderr)
        return 1
    return 0


def _registry_add(args) -> int:
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


def _synth(argv: list[str]) -> int:
    from clearcrawl.synth import main as synth_main

    return synth_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"run", "registry", "synth"}
    if not argv or argv[0] not in commands:
        print("usage: clearcrawl {run,registry,synth} ...\n"
              "  run       filter crawl shards against an opt-out registry\n"
              "  registry  validate | build | sync | add-optout\n"
              "  synth     generate a seeded Common-Crawl-like sample crawl",
              file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        from clearcrawl.beam.pipeline import main as run_main

        return run_main(rest)
    if command == "registry":
        return _registry(rest)
    return _synth(rest)


if __name__ == "__main__":
    sys.exit(main())
