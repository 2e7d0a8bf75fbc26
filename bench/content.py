"""Content-matching benchmarks: signatures and LSH search against datasketch.

Run by bench/run.py. The LSH comparison builds each index in its own child
process (`python bench/content.py lsh ours|datasketch N`) so that resident
memory can be compared from the same baseline: both start from nothing, both
generate the same seeded signatures, datasketch then frees them (its index keeps
only band hashes) while clearcrawl keeps them for verification, and counts them.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

QUERIES = 2000
BATCH = 64  # CollectEvidence's batch size (ReadShards makes the batches)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _datasketch_shingles(text: str, n: int = 5) -> list[bytes]:
    words = re.findall(r"\w+", text.lower())
    return [" ".join(words[i:i + n]).encode() for i in range(max(1, len(words) - n + 1))]


def bench_signatures(texts: list[str]) -> dict:
    """Text -> 128-permutation signature, MB/s of text, on the same documents."""
    from datasketch import MinHash

    from clearcrawl.core.minhash import MinHashParams, fingerprint_many

    params = MinHashParams()

    def ours(batch):  # in the pipeline's batches
        for start in range(0, len(batch), BATCH):
            fingerprint_many(batch[start:start + BATCH], params)

    def ds_update(batch):
        for text in batch:
            m = MinHash(num_perm=128)
            for shingle in _datasketch_shingles(text):
                m.update(shingle)

    def ds_update_batch(batch):
        for text in batch:
            MinHash(num_perm=128).update_batch(_datasketch_shingles(text))

    def rate(fn, batch) -> float:
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            fn(batch)
            best = min(best, time.perf_counter() - start)
        return sum(len(t.encode()) for t in batch) / best / 1e6

    ours_mb = rate(ours, texts)
    batch_mb = rate(ds_update_batch, texts[: len(texts) // 2])
    update_mb = rate(ds_update, texts[: len(texts) // 10])
    datatrove_mb = _datatrove_signature_rate(texts, rate)
    mean_bytes = sum(len(t.encode()) for t in texts) / len(texts)
    return {"documents": len(texts), "mean_text_bytes": round(mean_bytes),
            "ours_mb_per_s": ours_mb, "ours_docs_per_s": ours_mb * 1e6 / mean_bytes,
            "datasketch_update_mb_per_s": update_mb,
            "datasketch_update_batch_mb_per_s": batch_mb,
            "datatrove_mb_per_s": datatrove_mb,
            "vs_update": ours_mb / update_mb, "vs_update_batch": ours_mb / batch_mb,
            "vs_datatrove": ours_mb / datatrove_mb if datatrove_mb else None}


def _datatrove_signature_rate(texts: list[str], rate) -> float | None:
    """datatrove's MinhashDedupSignature step (16 buckets x 8 hashes = 128, 5-grams),
    writing its bucket files as it does in a pipeline; None where it does not install."""
    try:
        from datatrove.data import Document
        from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    except ImportError as exc:
        print(f"note: datatrove not importable ({exc}); its rows are skipped", file=sys.stderr)
        return None
    import tempfile

    from loguru import logger

    logger.remove()  # its log lines would interleave with the table

    def run(batch):
        with tempfile.TemporaryDirectory() as out:
            step = MinhashDedupSignature(out, config=MinhashConfig(
                n_grams=5, num_buckets=16, hashes_per_bucket=8))
            step.run(iter([Document(text=t, id=str(i)) for i, t in enumerate(batch)]))

    return rate(run, texts[: len(texts) // 2])


def _registry_signatures(n_works: int):
    """n seeded signatures: 1,000 real works (fingerprinted) among random ones, and
    the query documents (copies of those works and unrelated pages)."""
    from clearcrawl.core.minhash import MinHashParams, fingerprint
    from clearcrawl.synth_text import planted_corpus

    params = MinHashParams()
    works, docs = planted_corpus(seed=3, works=1000, copies=QUERIES // 2, quoted=0,
                                 unrelated=QUERIES // 2)
    sigs = np.random.default_rng(1).integers(0, 2**32, size=(n_works, 128), dtype=np.uint32)
    sigs[: len(works)] = [fingerprint(w.text, params).signature for w in works]
    queries = [fingerprint(d.text, params) for d in docs]
    return params, sigs, queries


def _lsh_child(which: str, n_works: int) -> dict:
    base = _rss_mb()
    params, sigs, queries = _registry_signatures(n_works)
    start = time.perf_counter()
    if which == "ours":
        from clearcrawl.core.works import DocPrint, WorkInfo, WorkMatcher, WorkSet

        infos = [WorkInfo(f"w{i}", "optout", "", "", "") for i in range(n_works)]
        matcher = WorkMatcher(WorkSet(params, infos, sigs, None), 0.8)
        build = time.perf_counter() - start
        gc.collect()
        rss = _rss_mb() - base
        prints = [DocPrint(str(i), q) for i, q in enumerate(queries)]

        def query():  # in batches of the pipeline's size (CollectEvidence batches too)
            return sum(bool(found) for i in range(0, len(prints), BATCH)
                       for found in matcher.match_many(prints[i:i + BATCH]))

        bands = f"{matcher.bands}x{matcher.rows}"
    else:
        from datasketch import MinHashLSH

        from clearcrawl.core.minhash import to_datasketch

        lsh = MinHashLSH(threshold=0.8, num_perm=128)
        with lsh.insertion_session() as session:
            for i in range(n_works):
                session.insert(i, to_datasketch(sigs[i], params), check_duplication=False)
        build = time.perf_counter() - start
        del sigs
        gc.collect()
        rss = _rss_mb() - base
        minhashes = [to_datasketch(q.signature, params) for q in queries]

        def query():
            return sum(bool(lsh.query(m)) for m in minhashes)

        bands = f"{lsh.b}x{lsh.r}"
    elapsed = float("inf")
    for _ in range(5):  # a pass takes tens of milliseconds: keep the best of five
        start = time.perf_counter()
        matched = query()
        elapsed = min(elapsed, time.perf_counter() - start)
    return {"works": n_works, "build_s": build, "index_mb": rss, "bands": bands,
            "queries": len(queries), "queries_per_s": len(queries) / elapsed,
            "documents_matched": matched}


def bench_lsh(n_works: int) -> dict:
    results = {}
    for which in ("ours", "datasketch"):
        out = subprocess.run([sys.executable, __file__, "lsh", which, str(n_works)],
                             check=True, capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": "0"})
        results[which] = json.loads(out.stdout.strip().splitlines()[-1])
    ours, ds = results["ours"], results["datasketch"]
    return {**results, "query_ratio": ours["queries_per_s"] / ds["queries_per_s"],
            "memory_ratio": ds["index_mb"] / ours["index_mb"]}


def bench_planted_quality(seed: int = 5) -> dict:
    """Recall and false removals on the planted corpus, truth by Python sets of 5-grams."""
    from collections import Counter, defaultdict

    from clearcrawl.core.minhash import MinHashParams, fingerprint
    from clearcrawl.core.works import DocPrint, WorkMatcher, WorkSet, work_record
    from clearcrawl.synth_text import planted_corpus

    def grams(text):
        words = re.findall(r"[a-z0-9]+", text.lower())
        return {tuple(words[i:i + 5]) for i in range(max(1, len(words) - 4))}

    params = MinHashParams()
    works, docs = planted_corpus(seed=seed)
    matcher = WorkMatcher(WorkSet.from_records(
        params, [work_record(w.as_registry_dict(), params) for w in works]), 0.8)
    sets = {w.entry_id: grams(w.text) for w in works}
    postings = defaultdict(list)
    for entry_id, shingle_set in sets.items():
        for gram in shingle_set:
            postings[gram].append(entry_id)
    high = hit = low = false = 0
    for doc in docs:
        doc_set = grams(doc.text)
        shared = Counter(e for g in doc_set for e in postings.get(g, ()))
        sims = {e: (n / (len(doc_set) + len(sets[e]) - n), n / len(sets[e]))
                for e, n in shared.items()}
        named = {ev.entry_id for ev in matcher.match(DocPrint(
            doc.doc_id, fingerprint(doc.text, params), doc.text))}
        expected = {e for e, (j, _) in sims.items() if j >= 0.8}
        if expected:
            high += 1
            hit += expected <= named
        if all(j < 0.5 and c < 0.5 for j, c in sims.values()):
            low += 1
            false += bool(named)
    return {"documents": len(docs), "true_jaccard_ge_0_8": high, "recalled": hit,
            "recall": hit / high, "true_below_0_5": low, "false_removals": false}


if __name__ == "__main__":
    if sys.argv[1:2] == ["lsh"]:
        print(json.dumps(_lsh_child(sys.argv[2], int(sys.argv[3]))))
