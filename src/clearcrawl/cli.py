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


def _file_access(root: str):
    """(opener, lister, writer): plain files for local folders, so audits need no Beam;
    Beam's file systems for gs:// and other remote folders."""
    if "://" in root and not root.startswith("file://"):
        from clearcrawl.beam.outputs import list_files, open_uri, write_bytes

        return open_uri, list_files, write_bytes
    from clearcrawl.localfiles import list_local_files, write_atomically

    return (lambda path: open(path, "rb")), list_local_files, write_atomically


def _audit(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clearcrawl audit")
    sub = parser.add_subparsers(dest="command", required=True)
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
    args = parser.parse_args(argv)

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


def _synth(argv: list[str]) -> int:
    from clearcrawl.synth import main as synth_main

    return synth_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"run", "refilter", "registry", "audit", "synth", "robots"}
    if not argv or argv[0] not in commands:
        print("usage: clearcrawl {run,refilter,registry,audit,synth,robots} ...\n"
              "  run       filter crawl shards against an opt-out registry\n"
              "  refilter  apply a newer registry to an output, without the crawl\n"
              "  registry  validate | build | sync | add-optout\n"
              "  audit     verify | eu-summary | lookup | report\n"
              "  synth     generate a seeded Common-Crawl-like sample crawl\n"
              "  robots    fetch: today's robots.txt of origins into a robots store",
              file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command in ("run", "refilter"):
        return _pipeline(command, rest)
    if command == "registry":
        return _registry(rest)
    if command == "audit":
        return _audit(rest)
    if command == "robots":
        from clearcrawl.robots_store.cli import main as robots_main

        return robots_main(rest)
    return _synth(rest)


def _pipeline(command: str, argv: list[str]) -> int:
    from clearcrawl.beam.warm_workers import WarmWorkerPool, wanted

    # Started before this process imports Beam, so that the workers' imports and
    # ours run side by side.
    pool = WarmWorkerPool() if wanted(argv) else None
    try:
        if command == "run":
            from clearcrawl.beam.pipeline import main as run_main

            return run_main(argv, pool)
        from clearcrawl.beam.refilter import main as refilter_main

        return refilter_main(argv, pool)
    finally:
        if pool is not None:
            pool.close()


def _exit(code: int) -> None:
    """Exit without collecting the heap first: with Beam loaded, the interpreter's
    shutdown collections take ~0.3 s, for objects that die with the process anyway."""
    import gc

    gc.freeze()
    sys.exit(code)


def entry_point() -> None:
    _exit(main())


if __name__ == "__main__":
    entry_point()
