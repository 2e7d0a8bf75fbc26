"""Command line: `clearcrawl run | registry ... | audit ... | synth`.

Exit codes: 0 success; 1 a failed run or check; 2 bad usage or invalid input
files, with a one-line reason naming the file (and line, for registry files).
"""

from __future__ import annotations

import argparse
import json
import sys


def _registry(argv: list[str]) -> int:
    from clearcrawl.registry.snapshot import InvalidRegistry, Snapshot
    from clearcrawl.registry.source import load_source

    parser = argparse.ArgumentParser(prog="clearcrawl registry")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="report every problem as file:line: message")
    validate.add_argument("path")
    build = sub.add_parser("build", help="compile a content-addressed snapshot")
    build.add_argument("path")
    build.add_argument("--output", required=True, metavar="SNAPSHOT_DIR")
    args = parser.parse_args(argv)
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


def _synth(argv: list[str]) -> int:
    from clearcrawl.synth import main as synth_main

    return synth_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"run", "registry", "synth"}
    if not argv or argv[0] not in commands:
        print("usage: clearcrawl {run,registry,synth} ...\n"
              "  run       filter crawl shards against an opt-out registry\n"
              "  registry  validate | build a registry\n"
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
