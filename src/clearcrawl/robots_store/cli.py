"""`clearcrawl robots fetch (--origins FILE | --from-output DIR) --store DIR ...`.

Exit codes: 0 when every origin asked for has a row in the store (an unreachable
origin is a row too: it is recorded, and tried again on the next run); 2 on bad usage
or unreadable input, with a one-line reason naming the file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from clearcrawl.core.robots_fetches import OUTCOMES, normalize_origin


class BadInput(ValueError):
    """Input the command cannot use; the message names the file."""


def origins_from_file(path: str) -> list[str]:
    """Origins of FILE, one per line (`#` comments and blank lines skipped), first
    occurrence order, duplicates dropped. A line that is no http(s) origin is an error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the origins file: {exc}") from None
    seen: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        origin = normalize_origin(line)
        if origin is None:
            raise BadInput(f"{path}:{number}: not an http(s) origin: {line[:200]!r}")
        seen.setdefault(origin, None)
    return list(seen)


def origins_from_output(folder: str) -> tuple[list[str], int]:
    """Every origin of a run's ledger (its `url` column, one row group at a time), first
    occurrence order; and how many URLs had no http(s) origin (counted, not fatal: the
    ledger holds web input)."""
    from clearcrawl.io.parquet import iter_row_groups

    files = sorted((Path(folder) / "ledger").glob("*.parquet"))
    if not files:
        raise BadInput(f"{folder}/ledger: no ledger Parquet files (not a clearcrawl output?)")
    seen: dict[str, None] = {}
    odd = 0
    for path in files:
        try:
            for table in iter_row_groups(str(path), ["url"]):
                for url in table["url"].to_pylist():
                    origin = normalize_origin(url) if url else None
                    if origin is None:
                        odd += 1
                    else:
                        seen.setdefault(origin, None)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
            raise BadInput(f"{path}: cannot read the ledger's url column: {exc}") from None
    return list(seen), odd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `fetch` subcommand, on the `robots` parser of the CLI tree."""
    sub = parser.add_subparsers(dest="robots_command", metavar="COMMAND", required=True)
    fetch = sub.add_parser("fetch", help="fetch today's robots.txt of origins into a store")
    source = fetch.add_mutually_exclusive_group(required=True)
    source.add_argument("--origins", metavar="FILE",
                        help="one origin (scheme://host[:port]) per line")
    source.add_argument("--from-output", metavar="DIR",
                        help="every origin of a clearcrawl output's ledger")
    fetch.add_argument("--store", required=True, metavar="DIR")
    fetch.add_argument("--concurrency", type=int, default=64,
                       help="requests open at once, over all hosts (default 64)")
    fetch.add_argument("--timeout", type=float, default=10.0, metavar="S",
                       help="seconds per request (default 10)")
    fetch.add_argument("--max-age", type=float, metavar="DAYS",
                       help="fetch again origins whose latest successful fetch is older "
                            "(default: never again; unreachable ones are always tried)")
    fetch.add_argument("--retries", type=int, default=2,
                       help="more tries of an unreachable origin, with backoff (default 2)")
    fetch.add_argument("--backoff", type=float, default=1.0, metavar="S",
                       help="seconds before the first retry, doubling (default 1)")
    fetch.add_argument("--body-limit-kib", type=int, default=512,
                       help="bytes of a robots.txt kept, in KiB (default 512, at least 500)")
    fetch.add_argument("--user-agent", help="User-Agent header (default names clearcrawl "
                                            "and a contact URL)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clearcrawl robots")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    problems = [message for bad, message in (
        (args.concurrency < 1, "--concurrency must be at least 1"),
        (args.timeout <= 0, "--timeout must be positive"),
        (args.max_age is not None and args.max_age < 0, "--max-age must be 0 or more"),
        (args.retries < 0, "--retries must be 0 or more"),
        (args.backoff < 0, "--backoff must be 0 or more"),
        (args.body_limit_kib < 500, "--body-limit-kib must be at least 500 (RFC 9309)"),
    ) if bad]
    if problems:
        print(f"clearcrawl robots fetch: {problems[0]}", file=sys.stderr)
        return 2
    return _fetch(args)


def _fetch(args) -> int:
    from clearcrawl.robots_store import fetch as fetching
    from clearcrawl.robots_store import reading, store

    try:
        if args.origins:
            origins, odd = origins_from_file(args.origins), 0
        else:
            origins, odd = origins_from_output(args.from_output)
        writer = store.StoreWriter(args.store)
    except (BadInput, store.InvalidStore, store.StoreBusy) as exc:
        print(f"clearcrawl robots fetch: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"clearcrawl robots fetch: {args.store}: cannot write the store: {exc}",
              file=sys.stderr)
        return 2
    options = fetching.FetchOptions(
        concurrency=args.concurrency, timeout_s=args.timeout, retries=args.retries,
        backoff_s=args.backoff, body_limit=args.body_limit_kib * 1024,
        user_agent=args.user_agent or fetching.USER_AGENT)
    fresh = reading.fresh_origins(args.store, store.cutoff(args.max_age))
    todo = [o for o in origins if o not in fresh]
    del fresh
    counts = dict.fromkeys(OUTCOMES, 0)

    def record(fetch) -> None:
        writer.add(fetch)
        counts[fetch.outcome] += 1

    progress = fetching.Progress(total=len(todo))
    started = time.perf_counter()
    try:
        fetching.run(fetching.fetch_all(todo, record, options, progress),
                     threads=options.concurrency)
    finally:
        manifest = writer.close()
    seconds = time.perf_counter() - started
    summary = {"store": args.store, "store_id": manifest["store_id"],
               "origins": len(origins), "skipped_fresh": len(origins) - len(todo),
               "fetched": len(todo), "outcomes": counts, "recovered_from_journal":
               writer.recovered, "urls_without_origin": odd, "seconds": round(seconds, 3),
               "origins_per_s": round(len(todo) / seconds, 1) if seconds else None}
    print(json.dumps(summary, indent=2))
    return 0

