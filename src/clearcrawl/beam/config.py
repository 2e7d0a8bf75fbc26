"""RunConfig: what every step of the flow needs to know about the run, built once.

`clearcrawl run` (pipeline.prepare) and `clearcrawl refilter` build one and hand it to
every composite transform, instead of positional and boolean arguments. Frozen and
small: DoFns carry it to the workers as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearcrawl.io.warc import DEFAULT_MAX_RECORD_BYTES

BROADCAST, JOIN, NO_WORKS = "broadcast", "join", "none"


@dataclass(frozen=True)
class RunConfig:
    """`snapshot_uri`: the registry snapshot staged for the workers; `staging`: the run's
    staging folder. `works`: how registered works are matched, "broadcast" (in-memory
    index on every worker), "join" (band-key join, for registries too big for memory)
    or "none". `propagate`: removals spread to near-duplicates of removed documents (one
    hop), through a band-key join over `match_shards` key shards. `robots_store`: the
    robots store folder or None, `store_label` names it in evidence, and
    `robots_unreachable_is_optout` (the policy's) decides unreachable origins.
    `write_changes`: WriteOutputs also writes each output set's changes and
    restorable files (refilter: against the previous decisions its documents carry)."""

    snapshot_uri: str
    staging: str
    works: str = BROADCAST
    propagate: bool = True
    match_shards: int = 64
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    progress_dir: str | None = None
    robots_store: str | None = None
    store_label: str = ""
    robots_unreachable_is_optout: bool = False
    write_changes: bool = False

    def __post_init__(self):
        if self.works not in (BROADCAST, JOIN, NO_WORKS):
            raise ValueError(f"works: {self.works!r} is not broadcast, join or none")
        if self.match_shards < 1:
            raise ValueError("match_shards must be at least 1")
