"""Whole-pipeline benchmark: `clearcrawl run` on DirectRunner over generated Common-Crawl-
like WARCs, one process and both cores, against a bare warcio iteration over the same
files (reading every payload) and the extraction floor (references.extraction_floor).
Runs are child processes, so peak RSS is theirs. Each is timed as every step of the
bench is: the best of two runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from references import extraction_floor, fastwarc_iteration, warcio_iteration
from timing import best_time

REPO = Path(__file__).resolve().parents[1]


# Runs the command in a fresh process and prints the peak RSS (KB) of its descendants,
# so earlier children of the bench (the LSH comparison) do not count.
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
         "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _measure(*arguments: str) -> tuple[float, float]:
    """(seconds, peak RSS MB of the largest process: launcher or a worker) of the
    clearcrawl command with these arguments."""
    command = [sys.executable, "-m", "clearcrawl.cli", *arguments]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *command], check=True,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    return elapsed, int(done.stdout.strip().splitlines()[-1]) / 1024


def _run(crawl: str, out: str, *extra: str, robots: bool = True) -> tuple[float, float]:
    """`clearcrawl run` of the crawl in folder `crawl`, with its robots.txt captures
    (`robots`): (seconds, peak RSS MB)."""
    captures = ["--robots", f"{crawl}/robots/*.warc.gz"] if robots else []
    return _measure("run", "--input", f"{crawl}/*.warc.gz", *captures, "--registry",
                    str(REPO / "optout_registry"), "--output", out, *extra)


def grown_registry(previous: str, folder: str) -> str:
    """The bundled registry plus what rights holders file after a run, through
    `clearcrawl registry add-optout`: an opt-out of the domain with the most kept pages
    in the output `previous`, and a work (its longest kept page's text)."""
    import shutil
    from collections import Counter

    import pyarrow.parquet as pq

    registry = f"{folder}/registry"
    shutil.copytree(REPO / "optout_registry", registry,
                    ignore=shutil.ignore_patterns("synced"))
    kept = [pq.read_table(p, columns=["registered_domain", "text"])
            for p in sorted(Path(previous, "data").glob("*.parquet"))]
    domains = Counter(d for t in kept for d in t.column("registered_domain").to_pylist())
    longest = max((text for t in kept for text in t.column("text").to_pylist()), key=len)
    Path(folder, "work.txt").write_text(longest, encoding="utf-8")
    for request in (["--domain", domains.most_common(1)[0][0]],
                    ["--work", f"{folder}/work.txt", "--title", "Bench work"]):
        subprocess.run([sys.executable, "-m", "clearcrawl.cli", "registry", "add-optout",
                        *request, "--rights-holder", "Bench", "--date", "2026-12-01",
                        registry], check=True, capture_output=True)
    return registry


def bench_refilter(previous: str, folder: str, repeat: int = 2) -> dict:
    """`clearcrawl refilter` of the output `previous` with the registry grown after it
    (grown_registry): best seconds and largest peak RSS of `repeat` runs."""
    registry = grown_registry(previous, folder)
    seconds, rss = _best(lambda number: _measure(
        "refilter", "--previous", previous, "--registry", registry,
        "--output", f"{folder}/refiltered-{number}"), repeat)
    return {"seconds": seconds, "peak_rss_mb": rss}


def _best(measure, repeat: int = 2) -> tuple[float, float]:
    """(best seconds of `repeat` calls of measure(number), the largest peak RSS MB of
    any of them)."""
    runs = [measure(number) for number in range(repeat)]
    return min(seconds for seconds, _ in runs), max(rss for _, rss in runs)


def _best_run(crawl: str, out: str, *extra: str, robots: bool = True) -> tuple[float, float]:
    return _best(lambda number: _run(crawl, f"{out}-{number}", *extra, robots=robots))


def bench_one_gib_file(pages: int = 228_000) -> dict:
    """One generated WARC of about 1 GiB (pages of ~9 KB of HTML), run in one process:
    its peak RSS shows that memory does not grow with shard size."""
    from clearcrawl.registry.source import load_source
    from clearcrawl.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        summary = generate(f"{tmp}/crawl", pages=pages, files=1, seed=9, mean_html_bytes=9000,
                           works=load_source(REPO / "optout_registry").works)
        seconds, rss = _run(f"{tmp}/crawl", f"{tmp}/out")
    return {"pages": pages, "gzip_gib": summary["bytes"] / 2**30, "seconds": seconds,
            "docs_per_s": pages / seconds, "peak_rss_mb": rss}


def bench_pipeline(pages: int = 12000, files: int = 4) -> dict:
    from clearcrawl.registry.source import load_source
    from clearcrawl.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        summary = generate(f"{tmp}/crawl", pages=pages, files=files, seed=42,
                           mean_html_bytes=9000,
                           works=load_source(REPO / "optout_registry").works)
        measured = measure_crawl(f"{tmp}/crawl", summary["files"], pages)
        # Beam's fixed cost of a plain run (launcher, worker start, stages): the same
        # run on 200 pages, in as many files as it starts workers.
        generate(f"{tmp}/tiny", pages=200, files=min(files, os.cpu_count() or 1), seed=43,
                 mean_html_bytes=9000)
        measured["start_up_s"] = _best_run(f"{tmp}/tiny", f"{tmp}/tiny-out")[0]
        # A refilter of the plain run's output, against re-running in one process (a
        # refilter runs in one local process).
        refilter = bench_refilter(f"{tmp}/crawl-two-0", tmp)
        measured["refilter"] = {**refilter, "docs_per_s": pages / refilter["seconds"],
                                "vs_one_process_run":
                                    measured["one_process_s"] / refilter["seconds"]}
        return measured


def measure_crawl(crawl: str, files: list[str], pages: int, robots: bool = True) -> dict:
    """The crawl in folder `crawl` (`files`, with its robots.txt captures if `robots`):
    bare warcio and fastwarc iterations, the extraction floor on every core, one process
    and a plain run, best of two each."""
    megabytes = sum(os.path.getsize(f) for f in files) / 1e6
    warcio_s = best_time(lambda: warcio_iteration(files))
    fastwarc_s = best_time(lambda: fastwarc_iteration(files))
    # A file a task: more processes than files would idle.
    floor_processes = min(os.cpu_count() or 1, len(files))
    floor_s = best_time(lambda: extraction_floor(files, floor_processes))
    one_s, one_rss = _best_run(crawl, f"{crawl}-one", "--direct_num_workers", "1",
                               robots=robots)
    # A plain run: no Beam flags, every core.
    two_s, two_rss = _best_run(crawl, f"{crawl}-two", robots=robots)
    return {"pages": pages, "files": len(files), "gzip_mb": megabytes,
            "warcio_docs_per_s": pages / warcio_s, "fastwarc_docs_per_s": pages / fastwarc_s,
            "one_process_docs_per_s": pages / one_s, "one_process_s": one_s,
            "two_workers_docs_per_s": pages / two_s, "two_workers_s": two_s,
            "speedup_two_workers": one_s / two_s, "peak_rss_mb": max(one_rss, two_rss),
            "docs_per_s": pages / min(one_s, two_s), "mb_per_s": megabytes / min(one_s, two_s),
            "vs_warcio": warcio_s / min(one_s, two_s),
            "vs_fastwarc": fastwarc_s / min(one_s, two_s),
            "extraction_floor_docs_per_s": pages / floor_s,
            "extraction_floor_vs_warcio": warcio_s / floor_s,
            "extraction_floor_processes": floor_processes,
            "cores": os.cpu_count()}
