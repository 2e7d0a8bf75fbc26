"""End to end: `run --robots-store` and `refilter --robots-store` with a store made by a
real `clearcrawl robots fetch` against the local virtual-host proxy."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq

from clearcrawl.beam.pipeline import run
from clearcrawl.beam.refilter import refilter
from clearcrawl.cli import main
from clearcrawl.core.robots import is_allowed
from clearcrawl.core.store_decisions import store_label
from clearcrawl.registry.load import load_registry
from clearcrawl.robots_store.store import read_manifest
from clearcrawl.robots_store.vhosts import ROBOTS_BODIES
from clearcrawl.synth import generate
from tests.conftest import BUNDLED_REGISTRY
from tests.robots_store.helpers import Server, fetch_command

# Virtual hosts (vhosts.response_for) -> today's robots.txt on the first and on a later
# fetch (None: no successful fetch, no restriction under the default policy).
HOSTS = {
    "allow-1.test": (ROBOTS_BODIES["allow"], ROBOTS_BODIES["allow"]),
    "agent-1.test": (ROBOTS_BODIES["agent"], ROBOTS_BODIES["agent"]),  # GPTBot disallowed
    "paths-1.test": (ROBOTS_BODIES["paths"], ROBOTS_BODIES["paths"]),  # `*` path rules
    "status404-1.test": (None, None),
    "status503-1.test": (None, None),  # 503 always
    "flaky-1.test": (None, ROBOTS_BODIES["star"]),  # 503, then 200 on the second fetch
    "relent-1.test": (ROBOTS_BODIES["star"], ROBOTS_BODIES["allow"]),  # restorable
}
PATHS = ["/", "/private/x", "/private/open", "/news/a", "/blog/post-1", "/caf%C3%A9/"]
UNTRIED = "untried-1.test"  # in the crawl, never fetched: no decision


def _write_pages(path):
    rng = random.Random(3)
    with open(path, "w") as fh:
        for i, host in enumerate([*HOSTS, UNTRIED]):
            for page in PATHS:
                words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"])
                                 + str(rng.randint(0, 9999)) for _ in range(60))
                fh.write(json.dumps({"url": f"http://{host}{page}", "id": f"p{i}{page}",
                                     "date": "2019-05-01T00:00:00Z", "text": words}) + "\n")


def _ledger(folder) -> dict[str, dict]:
    rows = pq.read_table(folder / "ledger").to_pylist()
    return {r["doc_id"]: r for r in rows}


def _store_disallows(body, url, agents) -> bool:
    return body is not None and any(not is_allowed(body, a, url) for a in agents)


def _check_decisions(ledger, label, which, agents):
    checked = 0
    for row in ledger.values():
        host = row["url"].split("/")[2]
        has = any(r["kind"] == "robots_current" and r["entry_id"] == label
                  for r in row["reasons"])
        expected = host in HOSTS and _store_disallows(HOSTS[host][which], row["url"], agents)
        assert has == expected, (row["url"], row["reasons"])
        checked += host in HOSTS or host == UNTRIED
    assert checked == (len(HOSTS) + 1) * len(PATHS)


def test_run_and_refilter_with_a_fetched_store(tmp_path, capsys):
    crawl = tmp_path / "crawl"
    generate(crawl, pages=40, files=1)
    _write_pages(crawl / "vhosts.jsonl")
    origins = tmp_path / "origins.txt"
    origins.write_text("".join(f"http://{h}\n" for h in HOSTS))
    store = tmp_path / "store"
    agents = [*load_registry(str(BUNDLED_REGISTRY), lambda u: open(u, "rb").read())
              .policy.robots_agents, "*"]
    server = Server(tmp_path)
    try:
        first = fetch_command(tmp_path, server, "--origins", str(origins), "--store",
                              str(store), "--retries", "0")
        assert first.returncode == 0, first.stderr
        label1 = store_label(read_manifest(store)["store_id"])
        out1 = tmp_path / "out1"
        common = ["--input", str(crawl / "*.warc.gz"), "--input", str(crawl / "*.jsonl"),
                  "--registry", str(BUNDLED_REGISTRY)]
        result = run([*common, "--output", str(out1), "--robots-store", str(store)])
        block = result.manifest["options"]["robots_store"]
        assert block["label"] == label1 and block["origins"] == len(HOSTS)
        ledger1 = _ledger(out1)
        _check_decisions(ledger1, label1, 0, agents)

        second = fetch_command(tmp_path, server, "--origins", str(origins), "--store",
                               str(store), "--max-age", "0", "--retries", "0")
        assert second.returncode == 0, second.stderr
    finally:
        server.stop()
    label2 = store_label(read_manifest(store)["store_id"])
    assert label2 != label1
    full = tmp_path / "full"
    run([*common, "--output", str(full), "--robots-store", str(store)])
    full_ledger = _ledger(full)
    _check_decisions(full_ledger, label2, 1, agents)

    refiltered = tmp_path / "refiltered"
    result = refilter(["--previous", str(out1), "--registry", str(BUNDLED_REGISTRY),
                       "--output", str(refiltered), "--robots-store", str(store)])
    listed = [r for p in sorted((refiltered / "restorable").glob("*.parquet"))
              for r in pq.read_table(p).to_pylist()]
    restorable = {r["doc_id"] for r in listed}
    assert result.manifest["changes"]["documents_restorable"] == len(listed)
    assert all(r["removed_by"] == [label1] for r in listed)
    # relent-1.test disallowed everything, and now allows it: its pages were removed,
    # their text is gone, so they stay removed and are listed (unless something else
    # removes them anyway).
    expected_restorable = {d for d, r in ledger1.items() if r["url"].startswith("http://relent")
                           and full_ledger[d]["decision"] == "keep"}
    assert expected_restorable and restorable == expected_restorable
    new_ledger = _ledger(refiltered)
    assert new_ledger.keys() == full_ledger.keys()
    for doc_id, row in new_ledger.items():
        if doc_id in restorable:
            assert row["decision"] == "remove"
            assert {r["entry_id"] for r in row["reasons"]} == {label1}
            continue
        assert (row["decision"], row["reasons"]) == (full_ledger[doc_id]["decision"],
                                                     full_ledger[doc_id]["reasons"]), doc_id
    # the newer store's new removal (flaky-1.test now disallows everything) is applied
    assert any(r["url"].startswith("http://flaky") and r["decision"] == "remove"
               for r in new_ledger.values())
    for folder in (out1, full, refiltered):
        assert main(["audit", "verify", str(folder)]) == 0
    capsys.readouterr()
    assert main(["audit", "eu-summary", str(full), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["robots_store"]
    assert summary["store_id"] == read_manifest(store)["store_id"]
    assert summary["origins_checked"] == len(HOSTS)
    assert summary["origins_restricting"] == 3  # agent-, paths- and flaky-1.test
    assert summary["share_restricting"] == round(3 / len(HOSTS), 4)
    assert summary["fetch_period"]["start"] < summary["fetch_period"]["end"]
    assert main(["audit", "eu-summary", str(full)]) == 0
    assert "origins checked" in capsys.readouterr().out


def test_a_folder_that_is_no_robots_store_is_bad_usage(tmp_path, capsys):
    _write_pages(tmp_path / "pages.jsonl")
    (tmp_path / "empty").mkdir()
    code = main(["run", "--input", str(tmp_path / "pages.jsonl"), "--registry",
                 str(BUNDLED_REGISTRY), "--output", str(tmp_path / "out"),
                 "--robots-store", str(tmp_path / "empty")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "--robots-store" in err and "no manifest" in err and len(err.splitlines()) == 1
