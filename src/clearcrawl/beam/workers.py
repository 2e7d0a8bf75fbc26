"""What the steps' DoFns share on a worker: the registry snapshot (loaded once per
process), counters, and elements emitted from finish_bundle."""

from __future__ import annotations

import threading

from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from clearcrawl.beam.outputs import open_uri
from clearcrawl.registry.snapshot import Snapshot

STAGED = "staged"  # staging folder of decided documents, before propagation

_SNAPSHOTS: dict[str, Snapshot] = {}
_SNAPSHOT_LOCK = threading.Lock()


def load_snapshot(uri: str) -> Snapshot:
    """One snapshot per worker process, shared by every DoFn instance in it: rules and
    policy only. Its works files, beside it, are read when matching needs them
    (Snapshot.works for broadcast, one file per element in the join)."""
    with _SNAPSHOT_LOCK:
        snapshot = _SNAPSHOTS.get(uri)
        if snapshot is None:
            with open_uri(uri) as fh:
                snapshot = Snapshot.from_bytes(fh.read(), _SnapshotFolder(uri))
            _SNAPSHOTS[uri] = snapshot
        return snapshot


class _SnapshotFolder:
    """Reads files beside a snapshot URI (local or remote)."""

    def __init__(self, snapshot_uri: str):
        self._base = snapshot_uri.rsplit("/", 1)[0]

    def __call__(self, path: str) -> bytes:
        with open_uri(f"{self._base}/{path}") as fh:
            return fh.read()


class CounterFamily:
    """Metrics counters named `<prefix>:<kind>`, created on first use."""

    def __init__(self, prefix: str):
        self._prefix, self._counters = prefix, {}

    def inc(self, kind: str, n: int = 1) -> None:
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = Metrics.counter("clearcrawl", f"{self._prefix}:{kind}")
        counter.inc(n)



def in_global_window(value) -> WindowedValue:
    """An element emitted from finish_bundle, where Beam needs its window spelt out."""
    return WindowedValue(value, GlobalWindow().max_timestamp(), [GlobalWindow()])


def staged_name(uri: str) -> str:
    """The name of a staged file, as its key blocks (KeyBlock.file) give it."""
    return uri.rsplit("/", 1)[-1].removesuffix(".arrow")
