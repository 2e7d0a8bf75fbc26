"""The arguments of `clearcrawl run` and `clearcrawl refilter`, and where their paths
may point for the runner chosen.

Imports nothing heavy: the CLI builds its help from these parsers without loading
Beam (which takes seconds). Flags that these parsers do not know go to Beam.
"""

from __future__ import annotations

import argparse

from clearcrawl.io.warc import DEFAULT_MAX_RECORD_BYTES

# Runner names that run here, on Beam's FnApiRunner (see runner.py).
LOCAL_RUNNERS = {None, "", "DirectRunner", "directrunner", "direct", "FnApiRunner"}
# Dask runs here too unless it is given a cluster to connect to.
DASK_RUNNER = "DaskRunner"
# Paths that the workers read or write. A registry is read by the launcher, which
# ships its snapshot to the workers under --output, so a local one is right (a
# registry source folder is always local).
RUN_WORKER_PATHS = ("input", "robots", "robots_store", "output")
REFILTER_WORKER_PATHS = ("previous", "robots_store", "output")


def add_run_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--input", action="append", required=True, metavar="GLOB",
                        help="crawl shards: .warc(.gz), .wet(.gz), .jsonl(.gz|.zst), .parquet "
                             "(repeatable; ** recurses)")
    parser.add_argument("--robots", action="append", default=[], metavar="GLOB",
                        help="robots.txt capture WARCs (Common Crawl robotstxt/ segments)")
    parser.add_argument("--robots-store", metavar="DIR",
                        help="a robots store (`clearcrawl robots fetch`): today's robots.txt "
                             "of each origin, applied as robots_current")
    parser.add_argument("--registry", required=True, metavar="PATH",
                        help="registry source folder or built snapshot")
    parser.add_argument("--output", required=True, metavar="DIR")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing complete output in DIR")
    parser.add_argument("--match-strategy", choices=["auto", "broadcast", "join"],
                        default="auto",
                        help="registered works: in-memory index on every worker (broadcast) "
                             "or a band-key join (join); auto picks join above 1 GiB of "
                             "fingerprints (default %(default)s)")
    parser.add_argument("--no-propagate", action="store_true",
                        help="do not remove near-duplicates of removed documents")
    parser.add_argument("--match-shards", type=int, default=None,
                        help="key shards of the band-key joins (default: 64 on a "
                             "distributed runner; one per worker on a local run, whose "
                             "shuffle is held in memory, where more shards only repeat "
                             "doc_ids)")
    parser.add_argument("--max-record-mb", type=float, default=DEFAULT_MAX_RECORD_BYTES / 2**20,
                        help="records larger than this become error rows (default %(default)s)")
    return parser


def add_refilter_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--previous", required=True, metavar="DIR",
                        help="a complete output of `clearcrawl run` (or of refilter)")
    parser.add_argument("--registry", required=True, metavar="PATH",
                        help="the newer registry: the previous one plus added entries")
    parser.add_argument("--output", required=True, metavar="DIR2")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing complete output in DIR2")
    parser.add_argument("--robots-store", metavar="DIR",
                        help="a robots store (`clearcrawl robots fetch`): today's robots.txt "
                             "of each origin: a newer store's decisions replace the older's")
    return parser


RUN_DESCRIPTION = ("Filter crawl shards against an opt-out registry. Flags not listed here "
                   "are passed to Apache Beam (e.g. --runner DataflowRunner --project ...).")
REFILTER_DESCRIPTION = ("Apply a newer registry to a finished output, without the crawl. "
                        "Flags not listed here are passed to Apache Beam.")


def build_parser() -> argparse.ArgumentParser:
    """`clearcrawl run`'s own flags; parse_known_args leaves Beam's."""
    return add_run_arguments(argparse.ArgumentParser(
        prog="clearcrawl run", description=RUN_DESCRIPTION, allow_abbrev=False))


def build_refilter_parser() -> argparse.ArgumentParser:
    return add_refilter_arguments(argparse.ArgumentParser(
        prog="clearcrawl refilter", description=REFILTER_DESCRIPTION, allow_abbrev=False))


def remote_runner(beam_args: list[str]) -> str | None:
    """The runner's name if its workers run elsewhere (DataflowRunner, a Dask cluster
    given by --dask_client_address or --dask_scheduler_file, any runner not known to be
    local), else None. A Dask cluster on a loopback address runs here, and one declared
    with --dask_shared_filesystem sees this machine's paths."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runner")
    parser.add_argument("--dask_client_address")
    parser.add_argument("--dask_scheduler_file")
    parser.add_argument("--dask_shared_filesystem", action="store_true")
    known, _ = parser.parse_known_args(beam_args)
    if known.runner in LOCAL_RUNNERS:
        return None
    if known.runner == DASK_RUNNER and (
            known.dask_shared_filesystem or (not known.dask_scheduler_file and (
                not known.dask_client_address or is_loopback(known.dask_client_address)))):
        return None
    return known.runner


def is_loopback(address: str) -> bool:
    """A scheduler address on this machine: tcp://127.0.0.1:8786, localhost:8786, [::1]."""
    host = address.split("://", 1)[-1]
    host = host[1:host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    return host == "localhost" or host.startswith("127.") or host == "::1"


def local_worker_path(args: argparse.Namespace, beam_args: list[str],
                      flags: tuple[str, ...]) -> str | None:
    """The one-line reason to refuse a local path that remote workers would read or
    write (their own disk: the output would be lost, the inputs not found); None if
    every such path suits the runner. A dry run is judged the same way."""
    runner = remote_runner(beam_args)
    if runner is None:
        return None
    for flag in flags:
        values = getattr(args, flag, None)
        for value in values if isinstance(values, list) else [values]:
            if value is not None and is_local_path(value):
                return (f"--{flag.replace('_', '-')} {value}: a local path, but {runner} runs its workers "
                        "elsewhere; give a path they can reach (gs://...)"
                        + ("; or --dask_shared_filesystem if they share this machine's"
                           if runner == DASK_RUNNER else ""))
    return None


def is_local_path(path: str) -> bool:
    """No scheme, or file://: this machine's disk."""
    return "://" not in path or path.startswith("file://")
