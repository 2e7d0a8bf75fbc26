"""Launcher: filter crawl shards (see `clearcrawl run --help`)."""

import sys

from clearcrawl.beam.pipeline import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
