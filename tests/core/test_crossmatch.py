"""The propagation join's key blocks: what StageDecidedFn emits is what the join reads;
and the one decide, given what propagation found."""

from __future__ import annotations

import numpy as np

from clearcrawl.core.crossmatch import KeyBlock, RemovedSource, name_sources, propagation_pairs


def _block(seed: int, docs: int, bands: int = 4) -> KeyBlock:
    rng = np.random.default_rng(seed)
    sources = np.arange(docs) % 3 == 0
    doc_ids = [f"src-{seed}-{i}" if source else f"doc-{seed}-{i}"
               for i, source in enumerate(sources)]
    keys = rng.integers(0, 50, docs * bands, dtype=np.uint64)  # few keys: many shared
    return KeyBlock(keys, np.repeat(np.arange(docs, dtype=np.int32), bands), doc_ids,
                    sources, f"staged-{seed}")


def test_key_block_bytes_round_trip_and_give_the_same_pairs():
    blocks = [_block(1, 30), _block(2, 7), _block(3, 0)]
    back = [KeyBlock.from_bytes(b.to_bytes()) for b in blocks]
    for block, read in zip(blocks, back):
        assert read.keys.dtype == np.uint64 and read.owners.dtype == np.int32
        assert np.array_equal(read.keys, block.keys)
        assert np.array_equal(read.owners, block.owners)
        assert read.doc_ids == block.doc_ids and read.file == block.file
        assert np.array_equal(read.sources, block.sources) and read.sources.dtype == bool
    pairs = propagation_pairs(back)
    assert pairs == propagation_pairs(blocks)
    # Keyed by the source's staged file; each pair names its target's staged file.
    assert set(pairs) == {"staged-1", "staged-2"}
    for file, found in pairs.items():
        assert len(set(found)) == len(found)  # each pair once
        for source, target_file, target in found:
            assert source.startswith(f"src-{file[-1]}-")
            assert target.startswith(f"doc-{target_file[-1]}-")
    # The sources' signatures, once per file, name every pair of that file.
    sources = [RemovedSource(f"src-1-{i}", f"https://a.example/{i}?é", "piracy_domain",
                             bytes([i]) * 8) for i in range(0, 30, 3)]
    named = name_sources(sources, pairs["staged-1"] * 2)  # a pair from two shards: once
    assert sum(len(v) for v in named.values()) == len(pairs["staged-1"])
    for target_file, found in named.items():
        for target, source in found:
            assert (source.doc_id, target_file, target) in pairs["staged-1"]
            assert source.signature == bytes([int(source.doc_id.rsplit("-", 1)[1])]) * 8


def _signature(values) -> bytes:
    return np.asarray(values, dtype="<u4").tobytes()


def test_one_decide_makes_the_propagated_decision_too():
    from clearcrawl.core.policy import NearRemoved, decide
    from clearcrawl.records import Evidence

    rng = np.random.default_rng(5)
    own = rng.integers(0, 2**32, 128, dtype=np.uint64)
    near = own.copy()
    near[:10] += 1  # estimated Jaccard 118/128 = 0.92
    far = rng.integers(0, 2**32, 128, dtype=np.uint64)
    close = RemovedSource("src-near", "https://pirate.example/a", "piracy_domain",
                          _signature(near))
    other = RemovedSource("src-far", "https://pirate.example/b", "piracy_domain",
                          _signature(far))
    info = Evidence("license", "", "cc-by", None)  # not a removal reason
    # Kept on its own evidence, a verified near-duplicate: removed, naming the source.
    decision, ordered = decide([info], NearRemoved(_signature(own), [other, close], 0.8))
    assert decision == "remove"
    [named] = [e for e in ordered if e.kind == "near_duplicate_of_removed"]
    assert named.entry_id == "src-near" and named.score == round(118 / 128, 4)
    assert "https://pirate.example/a" in named.detail and "piracy_domain" in named.detail
    assert info in ordered
    # Candidates below the threshold, or none: the direct decision stands.
    assert decide([info], NearRemoved(_signature(own), [other], 0.8)) == ("keep", [info])
    assert decide([info], NearRemoved(_signature(own), [close], 0.95))[0] == "keep"
    assert decide([info], NearRemoved(_signature(own), [], 0.8)) == decide([info])
    # One hop: removed directly, it is not also named a copy.
    direct = Evidence("domain_optout", "e1", "opted out", None)
    assert decide([direct], NearRemoved(_signature(own), [close], 0.8)) == (
        "remove", [direct])
