"""One entry point for `--registry PATH`: a source folder or a built snapshot."""

from __future__ import annotations

from pathlib import Path

from clearcrawl.registry.snapshot import SNAPSHOT_FILE, InvalidRegistry, Snapshot
from clearcrawl.registry.source import is_source_folder, load_source


def load_registry(path: str, read_bytes=None) -> Snapshot:
    """Load a registry from a source folder (validated) or a snapshot file or folder.

    A built snapshot's works files are read from beside it, when needed.
    `read_bytes(uri)` reads remote snapshots (gs://) through Beam's file systems;
    source folders are local by nature (they are what people edit).
    """
    local = Path(path)
    if is_source_folder(local):
        return Snapshot.from_source(load_source(local))
    if local.is_dir() and (local / SNAPSHOT_FILE).is_file():
        local = local / SNAPSHOT_FILE
    if local.is_file():
        folder = local.parent
        return Snapshot.from_bytes(local.read_bytes(),
                                   lambda rel: (folder / rel).read_bytes())
    if read_bytes is not None and "://" in path:
        uri = path if path.endswith((".json", ".gz")) else path.rstrip("/") + "/" + SNAPSHOT_FILE
        base = uri.rsplit("/", 1)[0]
        return Snapshot.from_bytes(read_bytes(uri), lambda rel: read_bytes(f"{base}/{rel}"))
    raise InvalidRegistry([f"{path}: neither a registry folder (with registry.toml) "
                           "nor a snapshot"])
