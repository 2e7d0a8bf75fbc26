"""Content-addressed registry snapshots (JSON only: never pickle, safe to load).

`registry_id` is the sha256 of the canonical JSON of the snapshot's content, so
it changes exactly when an entry, file or policy changes, and not with file
order, timestamps or the machine that built it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from clearcrawl.core import lsh
from clearcrawl.core.domains import DomainRule, DomainRuleIndex
from clearcrawl.core.minhash import SCHEME, MinHashParams
from clearcrawl.core.policy import Policy
from clearcrawl.core.works import WorkMatcher, WorkSet, work_record
from clearcrawl.localfiles import write_atomically
from clearcrawl.registry.source import RegistrySource

FORMAT = "clearcrawl-registry-snapshot/2"  # 2: works as fingerprints, [matching]
SNAPSHOT_FILE = "snapshot.json.gz"
# A broadcast worker's peak while it loads the works, fitted to bench/works_memory.py.
WORKER_BYTES_PER_SHINGLE = 60
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


@dataclass(frozen=True)
class Snapshot:
    """A loaded registry: what the pipeline's workers match against."""

    content: dict
    registry_id: str

    @classmethod
    def from_source(cls, source: RegistrySource) -> Snapshot:
        if source.problems:
            raise InvalidRegistry([str(p) for p in source.problems])
        content = content_of(source)
        return cls(content, hashlib.sha256(canonical_json(content)).hexdigest())

    @classmethod
    def from_bytes(cls, data: bytes) -> Snapshot:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InvalidRegistry([f"snapshot: not a {FORMAT} document"])
        content = doc["content"]
        digest = hashlib.sha256(canonical_json(content)).hexdigest()
        if digest != doc.get("registry_id"):
            raise InvalidRegistry([f"snapshot: content hash {digest} does not match its "
                                   f"registry_id {doc.get('registry_id')} (altered?)"])
        scheme = content.get("matching", {}).get("scheme")
        if scheme != SCHEME:
            raise InvalidRegistry([f"snapshot: works fingerprinted with scheme {scheme!r}, this "
                                   f"version computes {SCHEME!r}; rebuild the snapshot from its "
                                   "registry folder"])
        return cls(content, digest)

    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "registry_id": self.registry_id, "content": self.content}
        # mtime=0 keeps the file itself byte-identical across rebuilds.
        return gzip.compress(canonical_json(doc), mtime=0)

    def write(self, folder: str | Path) -> Path:
        target = Path(folder) / SNAPSHOT_FILE
        write_atomically(target, self.to_bytes())
        return target

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
        return WorkSet.from_records(self.matching, self.content["works"])

    @cached_property
    def work_matcher(self) -> WorkMatcher:
        """The broadcast index of the works, built once per process."""
        return WorkMatcher(self.works, self.policy.near_duplicate_threshold)

    def works_bytes(self) -> int:
        """A worker's peak memory for the works in broadcast matching: decoding the
        snapshot's JSON, the decoded fingerprints and the index (bench/works_memory.py
        measures it; the shingle sets dominate)."""
        return sum(WORKER_BYTES_PER_WORK + WORKER_BYTES_PER_SHINGLE * w["shingle_count"]
                   for w in self.content["works"])

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
                "works": len(c["works"]), "robots": len(c["robots"]), "tdmrep": len(c["tdmrep"]),
                "aitxt": len(c["aitxt"]), "agents": len(c["agents"]),
                "synced_sources": [s["name"] for s in c["sources"]]}
