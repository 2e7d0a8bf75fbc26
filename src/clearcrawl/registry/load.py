"""One entry point for `--registry PATH`: a source folder or a built snapshot."""

from __future__ import annotations

from pathlib import Path

from clearcrawl.registry.snapshot import SNAPSHOT_FILE, InvalidRegistry, Snapshot
from clearcrawl.registry.source import is_source_folder, load_source


def load_registry(path: str, read_bytes=None) -> Snapshot:
    """Load a registry from a source folder (validated) or a snapshot file or folder.

    `read_bytes(uri)` reads remote snapshots (gs://) through Beam's file systems;
    source folders are local by nature (they are what people edit).
    """
    local = Path(path)
    if is_source_folder(local):
        return Snapshot.from_source(load_source(local))
    if local.is_dir() and (local / SNAPSHOT_FILE).is_file():
        return Snapshot.from_bytes((local / SNAPSHOT_FILE).read_bytes())
    if local.is_file():
        return Snapshot.from_bytes(local.read_bytes())
    if read_bytes is not None and "://" in path:
        uri = path if path.endswith((".json", ".gz")) else path.rstrip("/") + "/" + SNAPSHOT_FILE
        return Snapshot.from_bytes(read_bytes(uri))
    raise InvalidRegistry([f"{path}: neither a registry folder (with registry.toml) "
                           "nor a snapshot"])
