"""Which signal carriers an input can show (issue 17: evidence that could not be checked)."""

from __future__ import annotations

import pytest

from clearcrawl.core.coverage import input_carriers, unchecked_kinds

CASES = [
    # uri, robots captures given, carriers, kinds that cannot be checked in the document
    ("a.warc.gz", True, ["http_headers", "html_meta", "robots_captures"], []),
    ("a.warc", False, ["http_headers", "html_meta"], ["robots_crawl_time"]),
    ("a.wet.gz", True, ["robots_captures"], ["noai", "tdmrep", "content_usage"]),
    ("a.jsonl.zst", False, [], ["noai", "tdmrep", "content_usage", "robots_crawl_time"]),
    ("A.PARQUET", False, [], ["noai", "tdmrep", "content_usage", "robots_crawl_time"]),
]


@pytest.mark.parametrize(("uri", "captures", "carriers", "unchecked"), CASES)
def test_carriers_and_unchecked_kinds(uri, captures, carriers, unchecked):
    assert input_carriers(uri, captures) == carriers
    assert unchecked_kinds(carriers) == unchecked
