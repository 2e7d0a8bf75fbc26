"""Local multi-process workers forked from a warm template process.

Beam's FnApiRunner starts each `multi_processing` worker as `python -m
apache_beam.runners.worker.sdk_worker_main`: a fresh interpreter that imports Beam,
pyarrow, Numba and clearcrawl and loads the fingerprint kernel (about 1.5 s here,
both workers at once), while the run waits. Instead, a template process started
with the launcher does that work once, in parallel with the launcher's own imports,
and forks each worker from its warm state in milliseconds. The command Beam runs
for a worker is `warm_worker_client.py`, which hands the template its environment
and relays the worker's exit status; if no template answers, it runs Beam's own
worker command, so a worker always starts.

The worker itself is Beam's unchanged SDK harness (`sdk_worker_main.main`) with the
environment Beam gave it; only how its interpreter got warm differs. The template
creates no gRPC object and no thread of its own before it forks. Linux only: forking
a process that loaded these libraries is not safe on macOS, and Windows has no fork.

This module is imported by the CLI before Beam, so it imports nothing heavy at the top.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from clearcrawl.beam.arguments import LOCAL_RUNNERS

CLIENT = Path(__file__).with_name("warm_worker_client.py")
# The wire format, which warm_worker_client.py (standard library only) spells out too:
# a request is its length then JSON; the reply is the worker's exit status.
_HEADER = struct.Struct(">I")
_STATUS = struct.Struct(">i")
_REQUEST_TIMEOUT_S = 30.0


def wanted(beam_args: list[str]) -> bool:
    """True for a local run in `multi_processing` mode on a platform that can fork."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runner")
    parser.add_argument("--direct_running_mode")
    parser.add_argument("--direct_num_workers", type=int, default=1)
    known, _ = parser.parse_known_args(beam_args)
    return (sys.platform == "linux" and known.runner in LOCAL_RUNNERS
            and known.direct_running_mode == "multi_processing"
            and known.direct_num_workers != 1)


class WarmWorkerPool:
    """The template process, its socket, and the worker command Beam should run."""

    def __init__(self):
        self._folder = tempfile.mkdtemp(prefix="clearcrawl-workers-")
        self.socket_path = os.path.join(self._folder, "template.sock")
        # Its stdin is the template's lifeline: it exits when the launcher closes it
        # (close()) or dies.
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, self.socket_path], stdin=subprocess.PIPE)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The template's exit status once closed (None while it runs)."""
        return self._process.poll()

    @property
    def command(self) -> str:
        """The shell command that starts one worker (Beam runs it with `shell=True`)."""
        return " ".join(shlex.quote(part) for part in (
            sys.executable, "-I", "-S", str(CLIENT), self.socket_path))

    def close(self) -> None:
        """Stop the template (running workers are not its to stop); idempotent."""
        if not self._process.stdin.closed:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            _remove(self.socket_path, self._folder)


def _remove(socket_path: str, folder: str) -> None:
    for remove, path in ((os.unlink, socket_path), (os.rmdir, folder)):
        try:
            remove(path)
        except OSError:
            pass


def _warm() -> None:
    """What every worker would otherwise import and load for itself."""
    import apache_beam.runners.worker.sdk_worker_main  # noqa: F401

    import clearcrawl.beam.refilter  # noqa: F401
    import clearcrawl.beam.transforms  # noqa: F401
    from clearcrawl.core.minhash import MinHashParams, fingerprint, word_hashes

    fingerprint("warm up the compiled kernels", MinHashParams())  # loads Numba's cache
    word_hashes("warm up")


def _read_request(conn: socket.socket) -> dict:
    header = _recv_exactly(conn, _HEADER.size)
    return json.loads(_recv_exactly(conn, _HEADER.unpack(header)[0]))


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client closed the connection")
        data += chunk
    return data


def _serve(socket_path: str) -> None:
    """The template: listen first (clients wait in the backlog while it warms), warm,
    then fork one worker per request until stdin closes; then remove the socket."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    try:
        _warm()
        _fork_on_request(listener)
    finally:
        _remove(socket_path, os.path.dirname(socket_path))


def _fork_on_request(listener: socket.socket) -> None:
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin.fileno(), selectors.EVENT_READ)
    workers: set[int] = set()
    while True:
        ready = events.select(timeout=1.0)
        _reap(workers, block=False)
        if any(key.fileobj != listener for key, _ in ready):
            break  # the launcher closed our stdin, or died
        if not ready:
            continue
        conn, _ = listener.accept()
        conn.settimeout(_REQUEST_TIMEOUT_S)  # a client that never writes blocks no other
        try:
            environment = _read_request(conn)
        except (OSError, ValueError):  # closed early, timed out, or not JSON
            conn.close()
            continue
        conn.settimeout(None)
        pid = os.fork()
        if pid == 0:
            events.close()
            listener.close()
            _run_worker(conn, environment)  # never returns
        workers.add(pid)
        conn.close()
    # Waited for, not left to the system: so the workers' peak memory counts in the
    # launcher's resource usage of its children, as a fresh worker's would.
    _reap(workers, block=True)


def _reap(workers: set[int], block: bool) -> None:
    for pid in list(workers):
        if os.waitpid(pid, 0 if block else os.WNOHANG)[0]:
            workers.discard(pid)


def _run_worker(conn: socket.socket, environment: dict) -> None:
    """In the forked child: become the worker Beam asked for, report, exit."""
    import logging
    import threading
    import traceback

    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.environ.clear()
    os.environ.update(environment)
    root = logging.getLogger()  # as a fresh interpreter: no handlers, WARNING
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    threading.Thread(target=_exit_with_client, args=(conn,), daemon=True).start()
    code = 1
    try:
        from apache_beam.runners.worker import sdk_worker_main

        sys.argv = [sdk_worker_main.__file__]
        sdk_worker_main.main(sys.argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported, then the status says it failed
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            conn.sendall(_STATUS.pack(code))
        except OSError:
            pass
        # No interpreter shutdown: the process's memory goes with it, and the
        # template's inherited exit handlers are not this worker's to run.
        os._exit(code)


def _exit_with_client(conn: socket.socket) -> None:
    """A worker whose client was killed (by the runner, or with the launcher) stops."""
    try:
        while conn.recv(1):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    _serve(sys.argv[1])
    # Without the interpreter's teardown of everything _warm loaded (~0.4 s), which
    # the launcher would wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
