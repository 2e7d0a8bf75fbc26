"""`clearcrawl robots fetch` against the local virtual-host proxy (clearcrawl.robots_store.
vhosts): origins/s and the peak RSS of the fetch process. The mix of origins is the
test's common cases (rules for all, for one agent, paths, 404, 410, HTML served as
robots.txt, Latin-1, gzip, a redirect, a cross-origin redirect) plus a few 700 KiB
files. Both run on this machine: on 2 cores the server takes one, the fetcher the other.
Timed as every step of the bench: the best of two runs, each into a fresh store.

    python bench/robots_fetch.py [ORIGINS]     # just this row, printed as JSON
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = ["allow", "agent", "star", "paths", "status404", "status410", "html", "latin1", "gzip",
         "redirect1", "cross"]

# Runs the command in a fresh process and prints the peak RSS (KB) and the CPU seconds
# of its descendants: the CPU time a origin costs does not depend on what else runs on
# the machine, the origins/s do.
_PEAK = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], check=True, "
         "capture_output=True, text=True); print(done.stdout); "
         "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
         "print(usage.ru_utime + usage.ru_stime); print(usage.ru_maxrss)")


def _origins(count: int) -> list[str]:
    origins = [f"http://big-{i}.test" for i in range(count // 2000)]
    origins += [f"http://{CASES[i % len(CASES)]}-{i}.test" for i in range(count - len(origins))]
    return origins


def _start_server(folder: Path) -> tuple[subprocess.Popen, int]:
    port_file = folder / "port"
    server = subprocess.Popen([sys.executable, "-m", "clearcrawl.robots_store.vhosts",
                               "--port-file", str(port_file), "--log", str(folder / "log")])
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the virtual-host server did not start")
        time.sleep(0.05)
    return server, int(port_file.read_text())


def _run(folder: Path, origins_file: Path, port: int, number: int) -> dict:
    env = {**os.environ, "HTTP_PROXY": f"http://127.0.0.1:{port}", "NO_PROXY": ""}
    command = [sys.executable, "-m", "clearcrawl.cli", "robots", "fetch",
               "--origins", str(origins_file), "--store", str(folder / f"store-{number}")]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *command], check=True,
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    *summary, cpu_s, peak_kb = done.stdout.strip().splitlines()
    summary = json.loads("\n".join(summary))
    return {"seconds": seconds, "fetch_seconds": summary["seconds"],
            "fetched": summary["fetched"], "outcomes": summary["outcomes"],
            "cpu_s": float(cpu_s), "peak_rss_mb": int(peak_kb) / 1024}


def bench_robots_fetch(count: int = 20_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        origins_file = folder / "origins.txt"
        origins_file.write_text("\n".join(_origins(count)) + "\n")
        server, port = _start_server(folder)
        try:
            runs = [_run(folder, origins_file, port, number) for number in range(2)]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    best = min(runs, key=lambda r: r["fetch_seconds"])
    assert best["fetched"] == count, best
    return {"origins": count, "origins_per_s": count / best["fetch_seconds"],
            "origins_per_s_with_startup": count / best["seconds"],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "outcomes": best["outcomes"],
            # Startup (imports, reading the origins) included.
            "fetch_cpu_ms_per_origin": 1000 * min(r["cpu_s"] for r in runs) / count,
            "load_average_1min": os.getloadavg()[0], "cores": os.cpu_count()}


if __name__ == "__main__":
    print(json.dumps(bench_robots_fetch(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000),
                     indent=2))
