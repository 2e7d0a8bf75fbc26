"""`make bench`: measure stages against reference libraries in the same run.

Writes bench/results/latest.json and prints a Markdown table. Ratios above 1
mean clearcrawl is faster. Stages alone: reading records into documents (against
datatrove's WarcReader), HTML to text, rules and signals, Parquet writing
(bench/stages.py); robots.txt (parse + 1,000 lookups per file on the real
corpus, against Protego), domain rules, WARC framing (against warcio); MinHash
signatures (against datasketch and datatrove, on generated texts and on the real pages'
texts of shared/data) and LSH search (against datasketch) in bench/content.py; then the
whole pipeline on DirectRunner, on generated pages (bench/pipeline.py; then a
`refilter` of its output with two entries added, against a re-run; and a plain run of
200 pages, Beam's fixed cost) and on shared/data's real pages re-issued
(bench/real_pages.py), each crawl also against its extraction floor (fastwarc and the
pipeline's own HTML to text on every core, nothing else: bench/references.py); `robots fetch` against a
local proxy of 20,000 virtual hosts (bench/robots_fetch.py). `SIZE=large` (make bench SIZE=large) runs the pipeline on
more pages and on one 1 GiB WARC, for its peak RSS.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from timing import best_time

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CLEARCRAWL_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "bench" / "results" / "latest.json"


def bench_robots(rng: random.Random) -> dict:
    """The whole real corpus by size class (bench/robots_corpus.py); without the shared
    data, generated files in one class."""
    import robots_corpus

    if robots_corpus.corpus_folder(SHARED).is_dir():
        return robots_corpus.bench_robots_corpus(SHARED)
    print("note: shared robots corpus absent; robots.txt bench skipped", file=sys.stderr)
    return None


def bench_domain_rules(rng: random.Random, n_urls: int = 1_000_000) -> dict:
    """1,000,000 URLs against 100,000 rules (90 % hosts, 10 % URL prefixes)."""
    import tracemalloc

    from clearcrawl.core.domains import DomainRule, DomainRuleIndex, normalize_pattern

    hosts = [f"site{i}-{rng.randrange(10**6)}.example" for i in range(90_000)]
    prefixes = [f"https://press{i}.example/section-{i % 97}/" for i in range(10_000)]
    patterns = hosts + [normalize_pattern(p)[0] for p in prefixes]
    tracemalloc.start()
    started = time.perf_counter()
    index = DomainRuleIndex([DomainRule(f"r{i}", "piracy" if i % 3 else "optout", pattern)
                             for i, pattern in enumerate(patterns)])
    build_s = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    def url(i: int) -> str:
        if i % 10 == 0:  # a subdomain of a listed host, with port and mixed case
            return f"https://WWW.{rng.choice(hosts)}:443/a/b?x={i}"
        if i % 20 == 1:  # under a listed URL prefix, percent-encoded
            j = rng.randrange(10_000)
            return f"http://press{j}.example/section-{j % 97}/%7Eitem-{i}"
        return f"https://other{i}.example/news/{i}"

    urls = [url(i) for i in range(n_urls)]
    start = time.perf_counter()
    hits = sum(bool(index.match(u)) for u in urls)
    elapsed = time.perf_counter() - start
    return {"rules": len(patterns), "urls": len(urls), "hits": hits,
            "urls_per_s": len(urls) / elapsed, "index_build_s": build_s,
            "rules_memory_mb": peak / 2**20}


def bench_warc_framing() -> dict:
    from references import fastwarc_iteration, warcio_iteration

    from clearcrawl.io.warc import iter_records
    from clearcrawl.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        summary = generate(tmp, pages=3000, files=1, seed=3)
        path = summary["files"][0]
        megabytes = os.path.getsize(path) / 1e6

        def ours():
            with open(path, "rb") as fh:
                return sum(len(r.payload) for r in iter_records(fh))

        t_ours = best_time(ours)
        t_warcio = best_time(lambda: warcio_iteration([path]))
        t_fastwarc = best_time(lambda: fastwarc_iteration([path]))
    return {"records": 3000, "ours_records_per_s": 3000 / t_ours,
            "warcio_records_per_s": 3000 / t_warcio,
            "fastwarc_records_per_s": 3000 / t_fastwarc, "mb_per_s": megabytes / t_ours,
            "ratio": t_warcio / t_ours, "ratio_fastwarc": t_fastwarc / t_ours}


def _version(version, name: str) -> str | None:
    try:
        return version(name)
    except Exception:  # noqa: BLE001 - an optional reference that did not install
        return None


def main() -> int:
    """`QUICK=1`: MinHash signatures only (the ratios CI-sized machines can afford in
    under two minutes); otherwise every stage, the whole pipeline, and with
    `BENCH_SIZE=large` more pages and one 1 GiB WARC."""
    sys.path.insert(0, str(REPO / "bench"))
    import content

    from clearcrawl.synth_text import planted_corpus

    quick = os.environ.get("QUICK", "") not in ("", "0")
    _, planted = planted_corpus(seed=17)
    texts = [d.text for d in planted]
    # Quick: a quarter of the documents, so the slow references finish in time.
    signatures = content.bench_signatures(texts[:len(texts) // 4] if quick else texts)
    result = {"stages": {"minhash_signatures": {"docs_per_s": signatures["ours_docs_per_s"],
                                                "mb_per_s": signatures["ours_mb_per_s"]}},
              "pipeline": None,
              "ratios": {"minhash_vs_datasketch_update": signatures["vs_update"],
                         "minhash_vs_datasketch_update_batch": signatures["vs_update_batch"],
                         "minhash_vs_datatrove": signatures["vs_datatrove"]},
              "details": {"minhash": signatures}, "machine": _machine(), "quick": quick}
    if not quick:
        _full(result, content)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| stage | clearcrawl | reference | ratio |")
    print("|---|---|---|---|")
    if not quick:
        _print_stages(result["details"])
    _print_signatures(signatures)
    if not quick and result["details"]["minhash_real_texts"]:
        _print_signatures(result["details"]["minhash_real_texts"], "real pages' texts, ")
    if not quick:
        _print_pipeline(result["details"])
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 0


def _machine() -> dict:
    from importlib.metadata import version

    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "versions": {n: _version(version, n) for n in (
                "protego", "warcio", "fastwarc", "resiliparse", "datasketch", "datatrove",
                "numpy", "numba", "pyarrow", "apache-beam")}}


def _full(result: dict, content) -> None:
    import pipeline as pipeline_bench
    import stages as stage_bench

    rng = random.Random(20261128)
    single = stage_bench.bench_stages(REPO / "optout_registry")
    robots = bench_robots(rng)
    domains = bench_domain_rules(rng)
    warc = bench_warc_framing()
    n_works = int(os.environ.get("BENCH_WORKS", 1_000_000))
    lsh = content.bench_lsh(n_works)
    quality = content.bench_planted_quality()
    import real_pages

    real_texts = real_pages.real_texts(SHARED)
    if not real_texts:
        print("note: shared WARC files absent; the real-text MinHash row is skipped",
              file=sys.stderr)
    # Repeated so that the slowest reference still times a few hundred documents.
    real_minhash = content.bench_signatures(real_texts * 20) if real_texts else None
    large = os.environ.get("BENCH_SIZE", "default") == "large"
    default_pages = 226_000 if large else 48_000
    pipe = pipeline_bench.bench_pipeline(int(os.environ.get("BENCH_PAGES", default_pages)),
                                         files=8)
    one_gib = pipeline_bench.bench_one_gib_file() if large else None
    real = real_pages.bench_real_pages(SHARED)
    if real is None:
        print("note: shared WARC files absent; the real-pages pipeline row is skipped",
              file=sys.stderr)
    import robots_fetch as robots_fetch_bench

    fetch = robots_fetch_bench.bench_robots_fetch()
    stages = result["stages"]
    if robots:
        stages["robots_parse_and_lookups"] = {
            "docs_per_s": robots["files"] / robots["ours_s"], "mb_per_s": None}
    stages.update({
        "domain_rules_match": {"docs_per_s": domains["urls_per_s"], "mb_per_s": None},
        "warc_parse": {"docs_per_s": warc["ours_records_per_s"], "mb_per_s": warc["mb_per_s"]},
        "read_records_to_documents": single["read"],
        "html_to_text": single["html_to_text"],
        "rules_and_signals": single["rules_and_signals"],
        "parquet_write": single["parquet_write"],
        "lsh_search_verify": {"docs_per_s": lsh["ours"]["queries_per_s"], "mb_per_s": None},
        "robots_fetch": {"docs_per_s": fetch["origins_per_s"], "mb_per_s": None},
    })
    result["pipeline"] = {"docs_per_s": pipe["docs_per_s"], "mb_per_s": pipe["mb_per_s"],
                          "peak_rss_mb": pipe["peak_rss_mb"], "one_gib_file": one_gib}
    result["ratios"].update({
        "robots_vs_protego": robots["ratio"] if robots else None,
        "robots_vs_protego_slowest_class": robots["slowest_class_ratio"] if robots else None,
        "pipeline_vs_warcio_iter": pipe["vs_warcio"],
        "pipeline_real_pages_vs_warcio_iter": real["vs_warcio"] if real else None,
        "pipeline_vs_fastwarc_iter": pipe["vs_fastwarc"],
        "extraction_floor_vs_warcio_iter": pipe["extraction_floor_vs_warcio"],
        "extraction_floor_real_pages_vs_warcio_iter":
            real["extraction_floor_vs_warcio"] if real else None,
        "warc_framing_vs_warcio_iter": warc["ratio"],
        "warc_framing_vs_fastwarc_iter": warc["ratio_fastwarc"],
        "read_vs_datatrove_warc_reader": single.get("read_vs_datatrove"),
        "lsh_query_vs_datasketch": lsh["query_ratio"],
        "lsh_memory_vs_datasketch": lsh["memory_ratio"],
        "minhash_real_texts_vs_datasketch_update_batch":
            real_minhash["vs_update_batch"] if real_minhash else None})
    result["details"].update({"stages": single, "robots": robots, "domain_rules": domains,
                              "warc": warc, "lsh": lsh, "planted_quality": quality,
                              "pipeline": pipe, "one_gib_file": one_gib,
                              "robots_fetch": fetch, "minhash_real_texts": real_minhash,
                              "real_pages": real})


def _print_stages(details: dict) -> None:
    robots, domains, warc, st = (details["robots"], details["domain_rules"], details["warc"],
                                 details["stages"])
    if robots:
        for name, c in robots["classes"].items():
            print(f"| robots.txt parse + lookups, {name} ({c['files']:,} real files, "
                  f"{c['lookups']:,} lookups) | {c['ours_files_per_s']:,.1f} files/s | Protego "
                  f"{c['protego_files_per_s']:,.1f} files/s | {c['ratio']:.2f}x |")
    fetch = details["robots_fetch"]
    print(f"| robots fetch, {fetch['origins']:,} origins through the local proxy | "
          f"{fetch['origins_per_s']:,.0f} origins/s, {fetch['fetch_cpu_ms_per_origin']:.2f} ms "
          f"CPU an origin, peak RSS {fetch['peak_rss_mb']:,.0f} MB | - | - |")
    print(f"| domain rules: {domains['urls']:,} URLs vs {domains['rules']:,} rules | "
          f"{domains['urls_per_s']:,.0f} URLs/s, rules {domains['rules_memory_mb']:.0f} MB, "
          f"built in {domains['index_build_s']:.2f} s | - | - |")
    print(f"| WARC framing (gzip, per-record members) | {warc['ours_records_per_s']:,.0f} rec/s, "
          f"{warc['mb_per_s']:.1f} MB/s | warcio {warc['warcio_records_per_s']:,.0f} rec/s; "
          f"fastwarc {warc['fastwarc_records_per_s']:,.0f} rec/s | {warc['ratio']:.2f}x; "
          f"{warc['ratio_fastwarc']:.2f}x |")
    dt_reader = st["datatrove_warc_reader"]
    print(f"| read: WARC records to documents with text ({st['pages']:,} pages, "
          f"{st['gzip_mb']:.0f} MB gzip) | {st['read']['docs_per_s']:,.0f} docs/s, "
          f"{st['read']['mb_per_s']:.1f} MB/s | datatrove WarcReader (HTML only, no text "
          f"extraction) " + (f"{dt_reader['docs_per_s']:,.0f} docs/s | "
                             f"{st['read_vs_datatrove']:.2f}x |" if dt_reader else "- | - |"))
    print(f"| HTML to text (resiliparse, meta tags, licence links) | "
          f"{st['html_to_text']['docs_per_s']:,.0f} docs/s, "
          f"{st['html_to_text']['mb_per_s']:.0f} MB/s of HTML | - | - |")
    print(f"| domain rules + opt-out signals (bundled registry) | "
          f"{st['rules_and_signals']['docs_per_s']:,.0f} docs/s | - | - |")
    print(f"| Parquet write (staged rows, zstd) | {st['parquet_write']['docs_per_s']:,.0f} "
          f"docs/s, {st['parquet_write']['mb_per_s']:.0f} MB/s of text | - | - |")


def _print_signatures(sig: dict, texts: str = "") -> None:
    datatrove_sig = (f", datatrove MinhashDedupSignature {sig['datatrove_mb_per_s']:.2f} MB/s"
                     if sig["datatrove_mb_per_s"] else "")
    datatrove_ratio = f", {sig['vs_datatrove']:.1f}x" if sig["vs_datatrove"] else ""
    print(f"| MinHash signatures, 128 perm, word 5-grams ({texts}{sig['documents']} docs, "
          f"{sig['mean_text_bytes']:,} B each) | {sig['ours_mb_per_s']:.1f} MB/s | datasketch "
          f"update {sig['datasketch_update_mb_per_s']:.2f} MB/s, update_batch "
          f"{sig['datasketch_update_batch_mb_per_s']:.2f} MB/s{datatrove_sig} | "
          f"{sig['vs_update']:.0f}x, {sig['vs_update_batch']:.1f}x{datatrove_ratio} |")


def _print_pipeline(details: dict) -> None:
    lsh, q, pipe = details["lsh"], details["planted_quality"], details["pipeline"]
    ours, ds = lsh["ours"], lsh["datasketch"]
    print(f"| LSH search + verify vs {ours['works']:,} works ({ours['bands']} bands) | "
          f"{ours['queries_per_s']:,.0f} docs/s, index {ours['index_mb']:,.0f} MB, built in "
          f"{ours['build_s']:.0f} s | datasketch MinHashLSH ({ds['bands']}) "
          f"{ds['queries_per_s']:,.0f} docs/s, {ds['index_mb']:,.0f} MB, built in "
          f"{ds['build_s']:.0f} s | {lsh['query_ratio']:.1f}x faster, "
          f"{lsh['memory_ratio']:.1f}x less memory |")
    print(f"| planted corpus ({q['documents']} docs): recall at true Jaccard >= 0.8 | "
          f"{q['recalled']}/{q['true_jaccard_ge_0_8']} = {q['recall']:.3f}; false removals "
          f"below 0.5: {q['false_removals']}/{q['true_below_0_5']} | - | - |")
    _print_crawl(pipe, "generated pages")
    print(f"| Beam's fixed cost: a plain run of 200 generated pages | "
          f"{pipe['start_up_s']:.1f} s | - | - |")
    refilter = pipe["refilter"]
    print(f"| refilter of that output, registry + 1 domain opt-out + 1 work, 1 process | "
          f"{refilter['seconds']:.1f} s ({refilter['docs_per_s']:,.0f} pages/s), peak RSS "
          f"{refilter['peak_rss_mb']:,.0f} MB | `run` again, 1 process "
          f"{pipe['one_process_s']:.1f} s | {refilter['vs_one_process_run']:.2f}x |")
    real = details["real_pages"]
    if real:
        _print_crawl(real, f"real pages ({real['distinct_pages']} of shared/data's, "
                           f"{real['mean_html_bytes']:,} B of HTML, re-issued)")
    one_gib = details["one_gib_file"]
    if one_gib:
        print(f"| one {one_gib['gzip_gib']:.2f} GiB WARC ({one_gib['pages']:,} pages), "
              f"1 process | {one_gib['docs_per_s']:,.0f} pages/s, peak RSS "
              f"{one_gib['peak_rss_mb']:,.0f} MB | - | - |")


def _print_crawl(pipe: dict, pages: str) -> None:
    print(f"| whole pipeline, DirectRunner, {pipe['pages']:,} {pages} ({pipe['gzip_mb']:.0f} "
          f"MB gzip WARC) | 1 process {pipe['one_process_docs_per_s']:,.0f} pages/s; 2 workers "
          f"{pipe['two_workers_docs_per_s']:,.0f} pages/s ({pipe['speedup_two_workers']:.2f}x); "
          f"peak RSS {pipe['peak_rss_mb']:,.0f} MB | bare warcio iteration "
          f"{pipe['warcio_docs_per_s']:,.0f} pages/s; fastwarc "
          f"{pipe['fastwarc_docs_per_s']:,.0f} pages/s | {pipe['vs_warcio']:.2f}x; "
          f"{pipe['vs_fastwarc']:.2f}x |")
    print(f"| extraction floor of that crawl: fastwarc + the pipeline's HTML to text, nothing "
          f"else, {pipe['extraction_floor_processes']} processes | {pipe['extraction_floor_docs_per_s']:,.0f} "
          f"pages/s | bare warcio iteration | {pipe['extraction_floor_vs_warcio']:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
