"""Single-stage benchmarks on one generated Common-Crawl-like shard: reading records into
documents (against datatrove's WarcReader), HTML to text, rules and signals, and
writing Parquet. Run by bench/run.py; every stage sees the same documents."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from timing import best_time

PAGES = 3000


def bench_stages(registry: Path) -> dict:
    from clearcrawl.beam.outputs import ParquetOutput
    from clearcrawl.core.html import parse_html
    from clearcrawl.core.policy import decide
    from clearcrawl.core.rows import StagedRows
    from clearcrawl.io.http import parse_response
    from clearcrawl.io.readers import read_shard
    from clearcrawl.io.warc import iter_records
    from clearcrawl.records import STAGED_SCHEMA, Decided
    from clearcrawl.registry.load import load_registry
    from clearcrawl.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        shard = generate(f"{tmp}/crawl", pages=PAGES, files=1, seed=11,
                         mean_html_bytes=9000)["files"][0]
        gzip_mb = Path(shard).stat().st_size / 1e6
        with open(shard, "rb") as fh:
            bodies = [parse_response(r.payload).body for r in iter_records(fh)]
        html_mb = sum(len(b) for b in bodies) / 1e6

        def read():
            return sum(1 for _ in read_shard(shard, lambda uri: open(uri, "rb")))

        read_s = best_time(read)
        html_s = best_time(lambda: [parse_html(body, "utf-8") for body in bodies])
        docs = [d for d in read_shard(shard, lambda uri: open(uri, "rb"))]
        text_mb = sum(d.text_bytes for d in docs) / 1e6

        snapshot = load_registry(str(registry))
        snapshot_uri = str(snapshot.write(tmp))  # with its works files beside it
        from clearcrawl.beam.collect_evidence import CollectEvidenceFn
        from clearcrawl.beam.config import RunConfig

        rules = CollectEvidenceFn(RunConfig(snapshot_uri, str(tmp), works="none",
                                            propagate=False))
        rules.setup()
        signals_s = best_time(lambda: [list(rules.process(docs[i:i + 64]))
                                   for i in range(0, len(docs), 64)])
        decided = [d for i in range(0, len(docs), 64) for batch in rules.process(docs[i:i + 64])
                   for d in batch]
        decided = [Decided(d.doc, d.evidence, d.license, b"\0" * 512, b"\0" * 64, 300)
                   for d in decided]

        def write():
            rows = StagedRows(snapshot.registry_id, snapshot.policy_id)
            for item in decided:
                decision, ordered = decide(list(item.evidence))
                rows.add(item, decision, ordered)
            output = ParquetOutput(f"{tmp}/staged.parquet", STAGED_SCHEMA)
            output.write(rows.take())
            output.close()

        write_s = best_time(write)
        datatrove = _datatrove_reader(Path(shard).parent)
    n = len(docs)
    result = {
        "pages": n, "gzip_mb": gzip_mb, "html_mb": html_mb, "text_mb": text_mb,
        "read": {"docs_per_s": n / read_s, "mb_per_s": gzip_mb / read_s},
        "html_to_text": {"docs_per_s": len(bodies) / html_s, "mb_per_s": html_mb / html_s},
        "rules_and_signals": {"docs_per_s": n / signals_s, "mb_per_s": None},
        "parquet_write": {"docs_per_s": n / write_s, "mb_per_s": text_mb / write_s},
        "datatrove_warc_reader": datatrove,
    }
    if datatrove:
        result["read_vs_datatrove"] = result["read"]["docs_per_s"] / datatrove["docs_per_s"]
    return result


def _datatrove_reader(folder: Path) -> dict | None:
    """datatrove's WarcReader over the same shard: records to Documents holding the HTML
    (it extracts no text; that is a later step of its pipelines)."""
    try:
        from datatrove.pipeline.readers import WarcReader
    except ImportError as exc:
        print(f"note: datatrove not importable ({exc}); its rows are skipped", file=sys.stderr)
        return None
    from loguru import logger

    logger.remove()  # its per-file log lines would interleave with the table

    def read():
        return sum(1 for _ in WarcReader(str(folder), glob_pattern="*.warc.gz", recursive=False).run())

    count = read()
    seconds = best_time(read)
    return {"docs": count, "docs_per_s": count / seconds}
