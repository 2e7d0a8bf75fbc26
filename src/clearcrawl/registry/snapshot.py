"""Content-addressed registry snapshots (JSON only: never pickle, safe to load).

`registry_id` is the sha256 of the canonical JSON of the snapshot's content, works
included, so it changes exactly when an entry, file or policy changes, and not
with file order, timestamps or the machine that built it.

The works (fingerprint records, most of a large registry's bytes) live in their
own files beside the snapshot, `works/part-NNNNN.jsonl.gz`: gzip'd JSON lines,
one canonical record a line, in entry_id order, at most WORKS_PER_FILE a file.
The snapshot lists each file with its sha256, its number of works and their
total 5-grams. So a worker loads rules and policy only; works are read file by
file where matching needs them (every file on a broadcast worker, one file per
element in the join), each checked against its sha256. Because "works" sorts
after every other key of the content, its canonical JSON closes the content's,
and `registry_id` is computed streaming over the files (`registry_id_of`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from clearcrawl.core import lsh
from clearcrawl.core.domains import DomainRule, DomainRuleIndex
from clearcrawl.core.minhash import SCHEME, MinHashParams
from clearcrawl.core.policy import Policy
from clearcrawl.core.works import WorkMatcher, WorkSet, work_record
from clearcrawl.localfiles import write_atomically
from clearcrawl.registry.source import RegistrySource

FORMAT = "clearcrawl-registry-snapshot/3"  # 3: works in files beside the snapshot
INLINE_WORKS_FORMAT = "clearcrawl-registry-snapshot/2"  # works inside: still read
SNAPSHOT_FILE = "snapshot.json.gz"
WORKS_DIR = "works"
# Bounds what one join element reads and holds: ~10,000 x 6 KB of base64 5-grams.
WORKS_PER_FILE = 10_000
# A broadcast worker's peak while it loads the works file by file, fitted to
# bench/works_memory.py (100,000 works of ~750 5-grams: 1,038 MiB measured, 1,099 estimated).
WORKER_BYTES_PER_SHINGLE = 14
WORKER_BYTES_PER_WORK = 1024


class InvalidRegistry(ValueError):
    """The registry has problems; `problems` lists them as file:line: message."""

    def __init__(self, problems: list):
        self.problems = problems
        first = problems[0] if problems else "unknown problem"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"invalid registry: {first}{more}")


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class WorksFile:
    """One works file as the snapshot lists it; `path` is relative to the snapshot's
    folder, `shingles` the sum of its works' shingle_count (for the memory estimate)."""

    path: str
    sha256: str
    count: int
    shingles: int

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WorksFile:
        return cls(str(d["path"]), str(d["sha256"]), int(d["count"]), int(d["shingles"]))


def encode_works(records: list[dict]) -> bytes:
    """A works file: one canonical JSON record a line (JSON escapes newlines, so a
    line is a record), gzip'd with mtime 0 so a rebuild is byte-identical."""
    return gzip.compress(b"".join(canonical_json(r) + b"\n" for r in records), mtime=0)


def _record_lines(data: bytes) -> list[bytes]:
    return gzip.decompress(data).splitlines()


class _StreamedId:
    """sha256 of canonical_json({**content, "works": works}), fed work by work:
    `content` without works, then the canonical JSON line of each work in order."""

    def __init__(self, content: dict):
        if not content or any(key >= "works" for key in content):
            raise ValueError("content keys must sort before 'works'")
        self._digest = hashlib.sha256(canonical_json(content)[:-1] + b',"works":[')
        self._first = True

    def add(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self._digest.update(line if self._first else b"," + line)
            self._first = False

    def hexdigest(self) -> str:
        final = self._digest.copy()
        final.update(b"]}")
        return final.hexdigest()


def registry_id_of(content: dict, work_lines: Iterable[bytes]) -> str:
    """registry_id from the content without works and each work's canonical JSON."""
    streamed = _StreamedId(content)
    streamed.add(work_lines)
    return streamed.hexdigest()


def _header_sha256(content: dict, files: list[dict]) -> str:
    return hashlib.sha256(canonical_json({"content": content, "works": files})).hexdigest()


def content_of(source: RegistrySource) -> dict:
    """The canonical content of a valid source folder: everything decisions depend on."""
    rules = sorted(([r.entry_id, r.kind, r.pattern, r.rights_holder, r.source]
                    for r in source.domain_rules), key=lambda r: (r[0], r[2]))
    # Works are kept as fingerprints, not text: a snapshot is shipped to every
    # worker and may be shared, and a pirated book's text has no place in it.
    works = sorted(({**work_record(w, source.matching),
                     "text_sha256": hashlib.sha256(w["text"].encode()).hexdigest()}
                    for w in source.works), key=lambda w: w["entry_id"])
    return {
        "name": source.name,
        "version": source.version,
        "policy": source.policy.as_dict(),
        "sources": sorted(source.synced, key=lambda s: s["name"]),
        "domain_rules": rules,
        "matching": source.matching.as_dict(),
        "works": works,
        "robots": dict(sorted(source.robots.items())),
        "tdmrep": dict(sorted(source.tdmrep.items())),
        "aitxt": dict(sorted(source.aitxt.items())),
        "agents": dict(sorted(source.agents.items())),
    }


def shard_works(records: list[dict]) -> tuple[tuple[WorksFile, ...], dict[str, bytes]]:
    """(listing, {path: bytes}) of works files for records in entry_id order."""
    listing, files = [], {}
    for number, start in enumerate(range(0, len(records), WORKS_PER_FILE)):
        part = records[start:start + WORKS_PER_FILE]
        data = encode_works(part)
        path = f"{WORKS_DIR}/part-{number:05d}.jsonl.gz"
        listing.append(WorksFile(path, hashlib.sha256(data).hexdigest(), len(part),
                                 sum(int(r["shingle_count"]) for r in part)))
        files[path] = data
    return tuple(listing), files


@dataclass(frozen=True)
class Snapshot:
    """A loaded registry: what the pipeline's workers match against.

    `content` holds everything but the works (rules, policy, host files); the works
    are in `works_files`, read through `reader(path relative to the snapshot's
    folder) -> bytes` only when matching needs them.
    """

    content: dict
    registry_id: str
    works_files: tuple[WorksFile, ...] = ()
    reader: Callable[[str], bytes] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_source(cls, source: RegistrySource) -> Snapshot:
        if source.problems:
            raise InvalidRegistry([str(p) for p in source.problems])
        return cls._with_works(content_of(source))

    @classmethod
    def _with_works(cls, content: dict) -> Snapshot:
        """From a full content (works inside): the works move to in-memory files."""
        registry_id = hashlib.sha256(canonical_json(content)).hexdigest()
        content = dict(content)
        listing, files = shard_works(content.pop("works"))
        return cls(content, registry_id, listing, files.__getitem__)

    @classmethod
    def from_bytes(cls, data: bytes, reader: Callable[[str], bytes] | None = None
                   ) -> Snapshot:
        """The snapshot document; `reader` reads its works files (paths relative to
        the snapshot's folder). Checks the document's own hash and the scheme; the
        works files are checked when read (`works_file_records`, `verify_works`)."""
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        doc = json.loads(data)
        if isinstance(doc, dict) and doc.get("format") == INLINE_WORKS_FORMAT:
            snapshot = cls._inline(doc)
        elif isinstance(doc, dict) and doc.get("format") == FORMAT:
            content, files = doc["content"], doc.get("works")
            if not isinstance(files, list) or "works" in content:
                raise InvalidRegistry([f"snapshot: a {FORMAT} document lists its works "
                                       "files under 'works' and holds no works itself"])
            digest = _header_sha256(content, files)
            if digest != doc.get("header_sha256"):
                raise InvalidRegistry([f"snapshot: header hash {digest} does not match its "
                                       f"header_sha256 {doc.get('header_sha256')} (altered?)"])
            snapshot = cls(content, str(doc.get("registry_id")),
                           tuple(WorksFile.from_dict(f) for f in files), reader)
        else:
            raise InvalidRegistry([f"snapshot: not a {FORMAT} document"])
        scheme = snapshot.content.get("matching", {}).get("scheme")
        if scheme != SCHEME:
            raise InvalidRegistry([f"snapshot: works fingerprinted with scheme {scheme!r}, this "
                                   f"version computes {SCHEME!r}; rebuild the snapshot from its "
                                   "registry folder"])
        return snapshot

    @classmethod
    def _inline(cls, doc: dict) -> Snapshot:
        """A format 2 snapshot (works inside, as earlier outputs hold): same registry_id."""
        content = doc["content"]
        digest = hashlib.sha256(canonical_json(content)).hexdigest()
        if digest != doc.get("registry_id"):
            raise InvalidRegistry([f"snapshot: content hash {digest} does not match its "
                                   f"registry_id {doc.get('registry_id')} (altered?)"])
        return cls._with_works(content)

    def _document(self) -> dict:
        files = [f.as_dict() for f in self.works_files]
        return {"format": FORMAT, "registry_id": self.registry_id, "content": self.content,
                "works": files, "header_sha256": _header_sha256(self.content, files)}

    def to_bytes(self) -> bytes:
        """The snapshot document alone (rules, policy, the works files' listing)."""
        # mtime=0 keeps the file itself byte-identical across rebuilds.
        return gzip.compress(canonical_json(self._document()), mtime=0)

    def works_file_bytes(self, entry: WorksFile) -> bytes:
        """One works file's bytes, checked against the listing's sha256."""
        if self.reader is None:
            raise InvalidRegistry([f"{entry.path}: works files of this snapshot cannot be "
                                   "read (loaded without its folder)"])
        try:
            data = self.reader(entry.path)
        except (OSError, KeyError) as exc:
            raise InvalidRegistry([f"{entry.path}: works file missing beside the snapshot "
                                   f"({exc.__class__.__name__})"]) from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.sha256:
            raise InvalidRegistry([f"{entry.path}: sha256 {digest} is not the snapshot's "
                                   f"{entry.sha256} (altered or replaced)"])
        return data

    def _checked_file(self, entry: WorksFile) -> tuple[bytes, list[bytes]]:
        """(bytes, record lines) of one works file, checked (sha256, count)."""
        data = self.works_file_bytes(entry)
        lines = _record_lines(data)
        if len(lines) != entry.count:
            raise InvalidRegistry([f"{entry.path}: {len(lines)} works, the snapshot lists "
                                   f"{entry.count}"])
        return data, lines

    def works_file_records(self, entry: WorksFile) -> list[dict]:
        """The work records of one file, checked (sha256, count)."""
        return [json.loads(line) for line in self._checked_file(entry)[1]]

    def work_records(self) -> Iterator[dict]:
        """Every work record in entry_id order, one file in memory at a time."""
        for entry in self.works_files:
            yield from self.works_file_records(entry)

    def work_file_starts(self) -> list[tuple[int, WorksFile]]:
        """(index of the file's first work, file): a work's index is its position in
        entry_id order, the same in every strategy."""
        starts, at = [], 0
        for entry in self.works_files:
            starts.append((at, entry))
            at += entry.count
        return starts

    @property
    def works_count(self) -> int:
        return sum(f.count for f in self.works_files)

    def export(self, write: Callable[[str, bytes], None], name: str = SNAPSHOT_FILE) -> None:
        """Write the works files, then the snapshot as `name` (last: a reader that sees
        the snapshot finds its files), each by `write(path relative to the snapshot's
        folder, bytes)`. One file in memory at a time; every file is checked against
        its sha256 and the whole against registry_id on the way (InvalidRegistry)."""
        lines_hashed = _StreamedId(self.content)
        for entry in self.works_files:
            data, lines = self._checked_file(entry)
            lines_hashed.add(lines)
            write(entry.path, data)
        if lines_hashed.hexdigest() != self.registry_id:
            raise InvalidRegistry([f"snapshot: content hash {lines_hashed.hexdigest()} does "
                                   f"not match its registry_id {self.registry_id} (altered?)"])
        write(name, self.to_bytes())

    def verify_works(self) -> None:
        """Read every works file (one at a time) and check it and the registry_id."""
        self.export(lambda _path, _data: None)

    def write(self, folder: str | Path) -> Path:
        """The snapshot file and its works files into a local folder; stale works files
        of an earlier build there are removed."""
        folder = Path(folder)
        self.export(lambda path, data: write_atomically(folder / path, data))
        listed = {folder / f.path for f in self.works_files}
        for stale in (folder / WORKS_DIR).glob("part-*.jsonl.gz"):
            if stale not in listed:
                stale.unlink()
        return folder / SNAPSHOT_FILE

    @cached_property
    def policy(self) -> Policy:
        return Policy.from_dict(self.content["policy"])

    @property
    def policy_id(self) -> str:
        return self.policy.policy_id

    @cached_property
    def matching(self) -> MinHashParams:
        return MinHashParams.from_dict(self.content.get("matching") or MinHashParams().as_dict())

    @cached_property
    def bands(self) -> tuple[int, int]:
        """(bands, rows) of the LSH keys: chosen for recall at the policy's threshold."""
        return lsh.choose_bands(self.matching.num_perm, self.policy.near_duplicate_threshold)

    @cached_property
    def works(self) -> WorkSet:
        """Every work decoded (the broadcast index's input), built file by file so that
        only one file's JSON is held beside the decoded fingerprints."""
        return WorkSet.concat(self.matching, (WorkSet.from_records(
            self.matching, self.works_file_records(entry)) for entry in self.works_files))

    @cached_property
    def work_matcher(self) -> WorkMatcher:
        """The broadcast index of the works, built once per process."""
        return WorkMatcher(self.works, self.policy.near_duplicate_threshold)

    def works_bytes(self) -> int:
        """A worker's peak memory for the works in broadcast matching: the decoded
        fingerprints and the index, one works file's JSON at a time (bench/works_memory.py
        measures it; the shingle sets dominate). From the listing: no works are read."""
        return sum(WORKER_BYTES_PER_WORK * f.count + WORKER_BYTES_PER_SHINGLE * f.shingles
                   for f in self.works_files)

    @cached_property
    def domain_index(self) -> DomainRuleIndex:
        return DomainRuleIndex([DomainRule(*row) for row in self.content["domain_rules"]])

    def summary(self) -> dict:
        c = self.content
        kinds: dict[str, int] = {}
        for row in c["domain_rules"]:
            kinds[row[1]] = kinds.get(row[1], 0) + 1
        return {"registry_id": self.registry_id, "policy_id": self.policy_id,
                "name": c["name"], "version": c["version"], "domain_rules": kinds,
                "works": self.works_count, "robots": len(c["robots"]), "tdmrep": len(c["tdmrep"]),
                "aitxt": len(c["aitxt"]), "agents": len(c["agents"]),
                "synced_sources": [s["name"] for s in c["sources"]]}
