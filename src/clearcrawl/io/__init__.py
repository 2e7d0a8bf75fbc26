"""Readers of crawl shards (WARC, WET, JSONL, Parquet) yielding Documents."""
