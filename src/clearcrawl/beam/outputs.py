"""Output folder handling through Beam's file systems (local paths and gs://).

Outputs are staged under DIR/.staging/ while the pipeline runs, each set of
files with its receipt (OutputSet); only after the accounting checks pass are
they moved into data/, ledger/, errors/ and signatures/, and the manifest is
written last, atomically. A folder without manifest.json is never a complete
output.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from clearcrawl.audit.hashing import bucket_of, ledger_leaves, plain_rows
from clearcrawl.audit.manifest import (
    EVERY_FOLDER,
    MANIFEST,
    REGISTRY_SNAPSHOT,
    LedgerTally,
    ledger_counts,
    receipt,
)
from clearcrawl.records import CHANGE_SCHEMAS, OUTPUT_SCHEMAS

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


def open_uri(uri: str):
    """A file for reading, its raw bytes: compression is ours to handle (gzip members,
    zstd)."""
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def create_uri(uri: str):
    """A new file for writing raw bytes (they are written as given, never compressed)."""
    return FileSystems.create(uri, mime_type="application/octet-stream",
                              compression_type=CompressionTypes.UNCOMPRESSED)


def write_bytes(uri: str, data: bytes) -> None:
    with create_uri(uri) as fh:
        fh.write(data)


def write_json_atomically(uri: str, value) -> None:
    tmp = uri + ".tmp"
    write_bytes(tmp, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")
    FileSystems.rename([tmp], [uri])


def read_manifest(root: str) -> dict:
    """The manifest a finished graph's commit step wrote under `root`."""
    with open_uri(join(root, MANIFEST)) as fh:
        return json.loads(fh.read())


def prepare_output(root: str, overwrite: bool) -> None:
    """Refuse to mix two runs: an existing complete output needs --overwrite."""
    if exists(join(root, MANIFEST)):
        if not overwrite:
            raise FileExistsError(f"{root} already holds a complete output (manifest.json); "
                                  "choose another --output or pass --overwrite")
        FileSystems.delete([join(root, MANIFEST)])  # incomplete from here on
    for folder in (*EVERY_FOLDER, REGISTRY_SNAPSHOT.split("/")[0], STAGING):
        delete_tree(join(root, folder))


def unreceipted_files(root: str, receipts: dict) -> list[str]:
    """Staged output files that no receipt names: written by no finished unit of work."""
    named = {(folder, name) for name, r in receipts.items() for folder in r["files"]}
    return [path for folder in EVERY_FOLDER
            for path in list_files(join(root, STAGING, folder))
            if (folder, path.rsplit("/", 1)[-1]) not in named]


def promote_staged(root: str, folder: str, receipts: dict) -> list[dict]:
    """Move the receipted files of one output folder into place, as part-i-of-n in name
    order; [{path (relative), rows, sha256}]. Files without rows are dropped, but one
    is kept per folder, so that every output folder reads as a (maybe empty) table."""
    staged = sorted((name, r["files"][folder]) for name, r in receipts.items()
                    if folder in r["files"])
    kept = [(name, f) for name, f in staged if f["rows"]] or staged[:1]
    empty = [join(root, STAGING, folder, name) for name, f in staged if (name, f) not in kept]
    if empty:
        FileSystems.delete(empty)
    described = [{"path": f"{folder}/part-{index:05d}-of-{len(kept):05d}.parquet",
                  "rows": receipt["rows"], "sha256": receipt["sha256"]}
                 for index, (_, receipt) in enumerate(kept)]
    if not exists(join(root, folder)):
        FileSystems.mkdirs(join(root, folder))
    if kept:
        FileSystems.rename([join(root, STAGING, folder, name) for name, _ in kept],
                           [join(root, d["path"]) for d in described])
    return described


# Low-cardinality columns worth dictionary-encoding; Parquet's default tries every
# column, and hashing every page text before giving up costs more than compressing it.
_DICTIONARY_COLUMNS = frozenset({"registered_domain", "decision", "source_uri", "license",
                                 "registry_id", "policy_id", "crawl", "error_kind"})


class _DigestingFile(io.RawIOBase):
    """A write-only file that hashes what passes through it: a file's sha256 is known
    when it is closed, without reading it back."""

    def __init__(self, raw):
        super().__init__()
        self._raw, self.size, self._digest = raw, 0, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        self._raw.write(view)
        self._digest.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        if not self.closed:
            super().close()  # flushes first
            self._raw.close()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class ParquetOutput:
    """One Parquet file written through Beam's file systems, created on first write;
    `sha256` is set when it is closed (if `digest`)."""

    def __init__(self, uri: str, schema, compression: str = "zstd", digest: bool = True):
        self.uri, self._schema, self._compression = uri, schema, compression
        self._digest = digest
        self._file = self._writer = None
        self.rows = 0
        self.sha256: str | None = None

    def write(self, table) -> None:
        if self._writer is None:
            self._file = create_uri(self.uri)
            if self._digest:
                self._file = _DigestingFile(self._file)
            self._writer = self._new_writer(self._file)
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
        if self._digest:
            self.sha256 = self._file.hexdigest()
        return True

    def _new_writer(self, file):
        return pq.ParquetWriter(
            file, self._schema, compression=self._compression,
            use_dictionary=[n for n in self._schema.names if n in _DICTIONARY_COLUMNS],
            write_statistics=False)


class ArrowFileOutput(ParquetOutput):
    """An Arrow IPC file, for rows the same run reads back once (staged rows): Arrow's
    own layout, so writing it encodes nothing and reading it back decodes nothing.
    Not hashed, not compressed."""

    def __init__(self, uri: str, schema):
        super().__init__(uri, schema, compression="none", digest=False)

    def _new_writer(self, file):
        return pa.ipc.new_file(file, self._schema)


def iter_arrow_file(uri: str) -> Iterator[pa.Table]:
    """The record batches of an Arrow IPC file, one at a time, as tables. Read, not
    memory-mapped: a mapped file's pages would count as resident until its end."""
    with open_uri(uri) as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield pa.Table.from_batches([reader.get_batch(index)])


class OutputSet:
    """One unit of work's output files, one per output folder, all named `name` under
    the staging folder, and their receipt (see audit.manifest), written last: a
    retried unit rewrites the same files and receipt. The ledger rows' Merkle leaves
    wait by bucket (hashing.bucket_of) until `drain_leaves` hands them on.
    `with_changes`: a refilter's set, with changes and restorable files too."""

    def __init__(self, staging: str, name: str, with_changes: bool = False):
        self._staging, self._name = staging.rstrip("/"), name
        schemas = {**OUTPUT_SCHEMAS, **(CHANGE_SCHEMAS if with_changes else {})}
        self._files = {folder: ParquetOutput(f"{self._staging}/{folder}/{name}", schema)
                       for folder, schema in schemas.items()}
        self._tally = LedgerTally()
        self._leaves: dict[int, list[tuple[str, bytes]]] = {}
        self._waiting = 0

    def write(self, folder: str, table) -> None:
        if table.num_rows:
            self._files[folder].write(table)
            if folder == "ledger":
                self._add_ledger(table)

    def _add_ledger(self, table) -> None:
        """Tally a ledger table's rows and keep their leaves (of the rows as they will
        read back), by bucket."""
        counts = ledger_counts(table)
        if counts is None:
            self._tally.add(plain_rows(table))
        else:
            part = LedgerTally()
            part.decisions.update(counts[0])
            part.by_kind.update(counts[1])
            self._tally.merge(part)
        doc_ids = table.column("doc_id").to_pylist()
        for doc_id, leaf in zip(doc_ids, ledger_leaves(table)):
            self._leaves.setdefault(bucket_of(doc_id), []).append((doc_id, leaf))
        self._waiting += len(doc_ids)

    def drain_leaves(self, at_least: int = 0) -> list[tuple[int, list[tuple[str, bytes]]]]:
        """[(bucket, [(doc_id, leaf)])] waiting, if at least `at_least` leaves wait."""
        if self._waiting < max(at_least, 1):
            return []
        drained, self._leaves, self._waiting = sorted(self._leaves.items()), {}, 0
        return drained

    def close(self, **counted) -> dict:
        """Close every file (empty ones too, commit drops the extra ones); their receipt,
        which travels to the commit as an element, not as a file, with `counted`'s
        further counts (a refilter's changes from kept to removed)."""
        files = {}
        for folder, output in self._files.items():
            output.close(write_empty=True)
            files[folder] = {"rows": output.rows, "sha256": output.sha256}
        return {**receipt(self._name, files, self._tally), **counted}
