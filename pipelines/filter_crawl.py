"""Launcher: filter crawl shards (see `clearcrawl run --help`)."""

import sys

from clearcrawl.cli import main
from clearcrawl.exiting import run_and_exit

if __name__ == "__main__":
    run_and_exit(lambda: main(["run", *sys.argv[1:]]))
