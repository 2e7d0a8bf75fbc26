"""The corruption battery: the real WARC files of ../shared/data/warc, truncated at random
offsets, with bytes flipped, and concatenated with garbage, each run through the pipeline.

For every run: exit code 0; for every file, ledger rows = records the reader saw; every
error row names its file and an offset inside it; the output verifies. One seeded round
per mutation by default; CLEARCRAWL_BATTERY_ROUNDS=N runs N rounds (a longer budget).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearcrawl.cli import main
from clearcrawl.io.readers import read_shard
from clearcrawl.io.warc import DEFAULT_MAX_RECORD_BYTES
from tests.conftest import BUNDLED_REGISTRY

ROUNDS = int(os.environ.get("CLEARCRAWL_BATTERY_ROUNDS", "1"))


def _mutate(data: bytes, rng: random.Random, kind: str) -> bytes:
    if kind == "truncate":
        return data[: rng.randrange(1, len(data))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    garbage = rng.randbytes(rng.randint(1, 4096))
    cut = rng.randrange(len(data))
    return data[:cut] + garbage + data[cut:] + rng.randbytes(rng.randint(0, 512)) + data


def _files(shared_data: Path) -> list[Path]:
    root = shared_data / "warc"
    return sorted(p for p in root.rglob("*") if p.name.endswith((".warc", ".warc.gz")))


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("kind", ["truncate", "flip", "garbage"])
def test_mutated_real_warcs_are_fully_accounted(shared_data, tmp_path, kind, round_):
    rng = random.Random(f"{kind}-{round_}")
    folder = tmp_path / "mutated"
    folder.mkdir()
    seen: dict[str, int] = {}
    for index, original in enumerate(_files(shared_data)):
        suffix = ".warc.gz" if original.name.endswith(".gz") else ".warc"
        path = folder / f"{index:02d}-{original.name.split('.')[0]}{suffix}"
        path.write_bytes(_mutate(original.read_bytes(), rng, kind))
        seen[str(path)] = sum(1 for _ in read_shard(str(path), lambda u: open(u, "rb"),
                                                     DEFAULT_MAX_RECORD_BYTES))
    out = tmp_path / "out"
    code = main(["run", "--input", f"{folder}/*.warc", "--input", f"{folder}/*.warc.gz",
                 "--registry", str(BUNDLED_REGISTRY), "--output", str(out)])
    assert code == 0
    ledger = [r for p in (out / "ledger").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    per_file = Counter(r["source_uri"] for r in ledger)
    assert {uri: n for uri, n in per_file.items()} == {u: n for u, n in seen.items() if n}
    sizes = {str(p): p.stat().st_size for p in folder.iterdir()}
    errors = [r for p in (out / "errors").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    for row in errors:
        assert row["source_uri"] in sizes and row["error_kind"], row
        assert 0 <= row["source_offset"] <= sizes[row["source_uri"]], row
    assert len(errors) == sum(r["decision"] == "error" for r in ledger)
    assert main(["audit", "verify", str(out)]) == 0
