"""How a clearcrawl command ends its process: with its status, never with an abort.

CPython 3.11 to 3.13 end any thread that asks for the GIL once the interpreter has
begun finalising with pthread_exit(). If that thread is inside C++ code, the forced
unwind reaches a noexcept destructor and std::terminate() aborts the process
("terminate called without an active exception", SIGABRT, exit 134), after the
output was complete. pyarrow does exactly this: `pq.read_table` on a Python file
object returns while its pool threads still hold the scan's state; when a pool thread
drops the last reference, the file's or buffer's destructor takes the GIL
(apache/arrow#33975, #34314). gRPC's threads, which Beam's multi-processing mode
starts in the launcher, are the same kind of thread.

So a command ends as the interpreter would, minus finalisation, the one step that
can abort: non-daemon threads joined, atexit handlers run (log handlers flushed,
temporary folders removed), stdout and stderr flushed, then os._exit(status). The
threads clearcrawl starts itself are stopped and joined by their owners before this
(ProgressReporter.stop, WarmWorkerPool.close). Standard library only: the CLI imports
it before anything heavy.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

# CPython's own status when stdout cannot be flushed at exit (e.g. a closed pipe).
FLUSH_FAILED = 120


def run_and_exit(main: Callable[[], int | None]) -> NoReturn:
    """Run `main` and end the process with its status; an uncaught exception is
    reported as the interpreter would report it (status 1; 130 for Ctrl-C)."""
    try:
        status = main()
    except SystemExit as exc:
        status = _status_of(exc)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        status = 130
    except BaseException:  # noqa: BLE001 - reported exactly as an uncaught exception
        sys.excepthook(*sys.exc_info())
        status = 1
    finish(status or 0)


def finish(status: int) -> NoReturn:
    """Everything the interpreter does at exit except finalisation, then _exit."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # noqa: SLF001 - the interpreter's own exit step, run early
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout and status == 0:
                status = FLUSH_FAILED
    os._exit(status)


def _status_of(exc: SystemExit) -> int:
    """As the interpreter reads SystemExit: None is 0, an int is itself, anything
    else is printed to stderr and is 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1
