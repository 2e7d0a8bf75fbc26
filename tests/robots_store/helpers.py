"""The local virtual-host proxy and the fetch command, for the robots store tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BACKOFF = 0.05
TIMEOUT = 1.0


class Server:
    def __init__(self, folder: Path, serve_limit: int | None = None, delay_ms: float = 0.0):
        self.log = folder / "requests.log"
        port_file = folder / f"port-{time.monotonic_ns()}"
        command = [sys.executable, "-m", "clearcrawl.robots_store.vhosts",
                   "--port-file", str(port_file), "--log", str(self.log)]
        if serve_limit is not None:
            command += ["--serve-limit", str(serve_limit)]
        if delay_ms:
            command += ["--delay-ms", str(delay_ms)]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert self.process.poll() is None, "the virtual-host server died"
            assert time.monotonic() < deadline, "the virtual-host server did not start"
            time.sleep(0.05)
        self.port = int(port_file.read_text())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)

    def _log(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def lines(self) -> list[list[str]]:
        """Requests served (and OVERLAP lines), split into words."""
        return [line.split() for line in self._log() if not line.startswith("AGENT ")]

    def agents(self) -> list[str]:
        """Every distinct User-Agent the server saw."""
        return [line[6:] for line in self._log() if line.startswith("AGENT ")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch_command(tmp: Path, server: Server, *args: str, wait: bool = True):
    proxy = f"http://127.0.0.1:{server.port}"
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1"}
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "ALL_PROXY"):
        env.pop(name, None)
    command = [sys.executable, "-m", "clearcrawl.cli", "robots", "fetch", *args,
               "--timeout", str(TIMEOUT), "--backoff", str(BACKOFF)]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
