"""The progress of `robots fetch`: a redrawn line on a terminal, log lines otherwise."""

import dataclasses
import io

from clearcrawl.core import robots_fetches as rf
from clearcrawl.robots_store.fetch import Progress
from tests.robots_store.test_store import ROWS


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redrawn_line_with_rate_and_failures():
    stream = Terminal()
    progress = Progress(stream, total=5)
    assert progress.interval == 0.5
    for fetch in ROWS:
        progress.add(fetch)
    progress.tick(final=True)
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    assert "5/5 origins" in text and "origins/s" in text and "2 unreachable" in text


def test_a_log_gets_a_line_every_15_seconds_at_most():
    stream = io.StringIO()
    progress = Progress(stream)
    assert progress.interval == 15.0
    progress.add(dataclasses.replace(ROWS[0], outcome=rf.UNREACHABLE))
    progress.tick()  # too early: nothing
    assert stream.getvalue() == ""
    progress.tick(final=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robots fetch: 1 origins, ")
    assert lines[0].endswith("origins/s, 1 unreachable")
