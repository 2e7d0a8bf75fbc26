"""How a command ends its process (clearcrawl.exiting): with its status and every byte
of its output, after its threads and exit handlers, and without interpreter teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _run(body: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent("""\
        import atexit, sys, threading, time
        from clearcrawl.exiting import run_and_exit

        def main():
        """) + textwrap.indent(textwrap.dedent(body), "    ") + "\nrun_and_exit(main)\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)


def test_status_output_threads_and_exit_handlers_are_all_kept():
    proc = _run("""\
        atexit.register(lambda: print("exit handler ran", file=sys.stderr))
        def late():
            time.sleep(0.3)
            sys.stdout.write("written by a thread after main returned\\n")
        threading.Thread(target=late).start()
        sys.stdout.write("x" * 200_000)  # buffered, no newline
        sys.stderr.write("a partial line")
        return 3
        """)
    assert proc.returncode == 3
    assert proc.stdout == b"x" * 200_000 + b"written by a thread after main returned\n"
    assert proc.stderr == b"a partial lineexit handler ran\n"


@pytest.mark.parametrize("body, status, stderr", [
    ("return None", 0, b""),
    ("return 2", 2, b""),
    ("raise SystemExit(4)", 4, b""),
    ("raise SystemExit('a reason')", 1, b"a reason\n"),
    ("raise ValueError('boom')", 1, b"ValueError: boom\n"),
    ("raise KeyboardInterrupt", 130, b"KeyboardInterrupt\n"),
])
def test_statuses_as_the_interpreter_gives_them(body, status, stderr):
    proc = _run(body)
    assert proc.returncode == status
    assert proc.stderr.endswith(stderr)
