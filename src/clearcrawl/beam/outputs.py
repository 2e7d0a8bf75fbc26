"""Output folder handling through Beam's file systems (local paths and gs://).

Outputs are staged under DIR/.staging/ while the pipeline runs; only after the
accounting checks pass are they moved into data/, ledger/ and errors/, and the
manifest is written last, atomically. A folder without manifest.json is never
a complete output.
"""

from __future__ import annotations

import json

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from clearcrawl.audit.manifest import MANIFEST, OUTPUT_FOLDERS, REGISTRY_SNAPSHOT

STAGING = ".staging"


def join(root: str, *parts: str) -> str:
    return FileSystems.join(root.rstrip("/"), *parts)


def exists(uri: str) -> bool:
    return FileSystems.exists(uri)


def list_files(prefix: str) -> list[str]:
    """Files under a folder (recursively), sorted."""
    pattern = join(prefix, "**")
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - an absent folder has no files
        return []
    return sorted(m.path for m in matches)


def delete_tree(uri: str) -> None:
    if not exists(uri):
        return
    files = list_files(uri)
    if files:
        FileSystems.delete(files)
    if exists(uri):
        try:
            FileSystems.delete([uri])
        except Exception:  # noqa: BLE001 - object stores have no folders to delete
            pass


def write_bytes(uri: str, data: bytes) -> None:
    with FileSystems.create(uri, mime_type="application/octet-stream",
                            compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        fh.write(data)


def write_json_atomically(uri: str, value) -> None:
    tmp = uri + ".tmp"
    write_bytes(tmp, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")
    FileSystems.rename([tmp], [uri])


def prepare_output(root: str, overwrite: bool) -> None:
    """Refuse to mix two runs: an existing complete output needs --overwrite."""
    if exists(join(root, MANIFEST)):
        if not overwrite:
            raise FileExistsError(f"{root} already holds a complete output (manifest.json); "
                                  "choose another --output or pass --overwrite")
        FileSystems.delete([join(root, MANIFEST)])  # incomplete from here on
    for folder in (*OUTPUT_FOLDERS, REGISTRY_SNAPSHOT.split("/")[0], STAGING):
        delete_tree(join(root, folder))


def _without_empty_parts(paths: list[str]) -> list[str]:
    """Drop files with no rows (a sink with nothing to write still writes one), but keep
    one file per folder, so that every output folder reads as a (maybe empty) table."""
    import pyarrow.parquet as pq

    def rows(path: str) -> int:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            return pq.ParquetFile(fh).metadata.num_rows

    kept = [p for p in paths if rows(p)]
    empty = [p for p in paths if p not in kept]
    if empty and not kept:
        kept, empty = empty[:1], empty[1:]
    if empty:
        FileSystems.delete(empty)
    return kept


def promote_staged(root: str, folder: str) -> list[str]:
    """Move staged files of one output folder into place; relative paths, sorted."""
    staged = _without_empty_parts(
        [p for p in list_files(join(root, STAGING, folder)) if p.endswith(".parquet")])
    count = len(staged)
    sources, targets, rel_paths = [], [], []
    for index, path in enumerate(staged):
        rel = f"{folder}/part-{index:05d}-of-{count:05d}.parquet"
        sources.append(path)
        targets.append(join(root, rel))
        rel_paths.append(rel)
    if not exists(join(root, folder)):
        FileSystems.mkdirs(join(root, folder))
    if sources:
        FileSystems.rename(sources, targets)
    return rel_paths


# Low-cardinality columns worth dictionary-encoding; Parquet's default tries every
# column, and hashing every page text before giving up costs more than compressing it.
_DICTIONARY_COLUMNS = frozenset({"registered_domain", "decision", "source_uri", "license",
                                 "registry_id", "policy_id", "crawl", "error_kind"})


class ParquetOutput:
    """One Parquet file written through Beam's file systems, created on first write."""

    def __init__(self, uri: str, schema, compression: str = "zstd"):
        self.uri, self._schema, self._compression = uri, schema, compression
        self._file = self._writer = None
        self.rows = 0

    def write(self, table) -> None:
        if self._writer is None:
            import pyarrow.parquet as pq

            self._file = FileSystems.create(self.uri, mime_type="application/octet-stream",
                                            compression_type=CompressionTypes.UNCOMPRESSED)
            self._writer = pq.ParquetWriter(
                self._file, self._schema, compression=self._compression,
                use_dictionary=[n for n in self._schema.names if n in _DICTIONARY_COLUMNS],
                write_statistics=False)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self, write_empty: bool = False) -> bool:
        """True if a file was written (with no rows if `write_empty` and none came)."""
        if self._writer is None and write_empty:
            self.write(self._schema.empty_table())
        if self._writer is None:
            return False
        self._writer.close()
        self._file.close()
        return True
