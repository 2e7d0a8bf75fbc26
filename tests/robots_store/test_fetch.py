"""`clearcrawl robots fetch` against a real local proxy serving 20,000 virtual hosts.

The fetcher runs as the real command in a child process, with HTTP_PROXY pointing at
the server (clearcrawl.robots_store.vhosts) and NO_PROXY=127.0.0.1 for the origins
that must be reached directly. Only http origins: an https origin would go through a
CONNECT tunnel and need a certificate the client trusts, which the tests do not set up.
"""

from __future__ import annotations

import collections
import hashlib
import json
import signal
import time

import pyarrow.parquet as pq

from clearcrawl.core import robots_fetches as rf
from clearcrawl.robots_store import reading, store
from clearcrawl.robots_store.vhosts import BIG_BODY, HUB_HOST, ROBOTS_BODIES
from tests.robots_store.helpers import Server, closed_port, fetch_command

LIMIT = 512 * 1024


def hops(host: str, k: int) -> tuple[str, ...]:
    return tuple(f"http://{host}/hop{i}" for i in range(1, k + 1))


def expected(origin: str, server_port: int) -> dict:
    """The row the store must hold for an origin of the test (fields checked)."""
    host = origin.split("://", 1)[1].rsplit(":", 1)[0]
    url = rf.robots_url(origin)
    case, number = host.split(".", 1)[0].rpartition("-")[::2]
    row = {"outcome": rf.OK, "status": 200, "final_url": url, "redirect_chain": (),
           "truncated": False, "attempts": 1, "error": None, "body": None}
    if host == "127.0.0.1":
        if origin.endswith(f":{server_port}"):
            return {**row, "body": ROBOTS_BODIES["direct"]}
        return {**row, "outcome": rf.UNREACHABLE, "status": None, "attempts": 3,
                "error": "ClientConnectorError"}
    if case in ("allow", "agent", "star", "paths", "latin1", "html", "gzip"):
        return {**row, "body": ROBOTS_BODIES[case]}
    if case.startswith("status"):
        status = int(case[6:])
        if status >= 500:
            return {**row, "outcome": rf.UNREACHABLE, "status": status, "attempts": 3,
                    "error": f"HTTP {status}"}
        return {**row, "outcome": rf.UNAVAILABLE, "status": status}
    if case == "flaky":
        return {**row, "attempts": 2, "body": ROBOTS_BODIES["star"]}
    if case == "slow":
        return {**row, "outcome": rf.UNREACHABLE, "status": None, "attempts": 3,
                "error": "timeout after 1 s"}
    if case == "refused":
        return {**row, "outcome": rf.UNREACHABLE, "status": 502, "attempts": 3,
                "error": "HTTP 502"}
    if case.startswith("redirect"):
        k = int(case[8:])
        if k > rf.MAX_REDIRECTS:
            chain = hops(host, rf.MAX_REDIRECTS)
            return {**row, "outcome": rf.UNAVAILABLE, "status": 301, "redirect_chain": chain,
                    "final_url": chain[-1],
                    "error": f"more than 5 redirects (next: http://{host}/hop6)"}
        chain = hops(host, k)
        return {**row, "redirect_chain": chain, "final_url": chain[-1],
                "body": ROBOTS_BODIES["star"]}
    if case == "cross":
        target = f"http://target-{number}.test/robots.txt"
        return {**row, "redirect_chain": (target,), "final_url": target,
                "body": ROBOTS_BODIES["target"]}
    if case == "tohub":
        target = f"http://{HUB_HOST}/robots.txt"
        return {**row, "redirect_chain": (target,), "final_url": target,
                "body": ROBOTS_BODIES["target"]}
    if case == "big":
        return {**row, "body": BIG_BODY[:LIMIT], "truncated": True}
    raise AssertionError(f"no expectation for {origin}")


BULK = ["allow", "agent", "star", "paths", "status404", "status410", "latin1", "html", "gzip",
        "cross", "redirect1", "redirect2", "redirect3", "redirect4", "redirect5"]
FEW = {"status500": 20, "flaky": 20, "slow": 6, "refused": 20, "redirect6": 20, "big": 10,
       "tohub": 100}


def origin_lines(total: int, server_port: int) -> list[str]:
    lines = [f"http://127.0.0.1:{server_port}"] + \
            [f"http://127.0.0.1:{closed_port()}" for _ in range(3)]
    for case, count in FEW.items():
        lines += [f"http://{case}-{i}.test" for i in range(count)]
    # One host on three ports: three origins, one connection at a time.
    lines += [f"http://allow-{i}.test:{port}" for i in range(50) for port in (80, 8001, 8002)]
    i = 0
    while len(lines) < total:
        lines.append(f"http://{BULK[i % len(BULK)]}-{1000 + i}.test")
        i += 1
    return lines


def check_row(fetch: rf.RobotsFetch, want: dict) -> None:
    got = {"outcome": fetch.outcome, "status": fetch.status, "final_url": fetch.final_url,
           "redirect_chain": fetch.redirect_chain, "truncated": fetch.truncated,
           "attempts": fetch.attempts, "body": fetch.body}
    error = want.pop("error")
    assert got == want, fetch.origin
    if error is None:
        assert fetch.error is None, fetch.origin
    else:
        assert fetch.error and fetch.error.startswith(error), (fetch.origin, fetch.error)
    assert fetch.body_limit == LIMIT
    assert fetch.body_sha256 == (hashlib.sha256(fetch.body).hexdigest()
                                 if fetch.body is not None else None)


def test_twenty_thousand_origins_through_a_proxy_row_by_row(tmp_path):
    # Answers 5 ms late: two requests for one host at once would be seen (OVERLAP).
    server = Server(tmp_path, delay_ms=5)
    try:
        lines = origin_lines(20_000, server.port)
        origins_file = tmp_path / "origins.txt"
        # A comment, a blank line and a duplicate spelt differently: one origin.
        origins_file.write_text("# origins of the test crawl\n\n" + "\n".join(lines)
                                + "\nHTTP://Allow-1.TEST:80/\n")
        started = time.perf_counter()
        done = fetch_command(tmp_path, server, "--origins", str(origins_file),
                             "--store", str(tmp_path / "store"))
        seconds = time.perf_counter() - started
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["origins"] == summary["fetched"] == 20_000
    # Speed is the bench's (bench/robots_fetch.py), not a timed test; this is a bound.
    assert seconds < 300, f"20,000 origins took {seconds:.0f} s"
    # Progress goes to stderr (a log line when not a terminal), with rate and failures.
    assert "origins/s" in done.stderr and "unreachable" in done.stderr

    assert reading.verify_store(tmp_path / "store") == []
    rows = {}
    for fetch in reading.iter_fetches(tmp_path / "store"):
        assert fetch.origin not in rows, f"{fetch.origin} stored twice"
        rows[fetch.origin] = fetch
    wanted = {rf.normalize_origin(line) for line in lines}
    assert set(rows) == wanted
    for origin, fetch in rows.items():
        check_row(fetch, expected(origin, server.port))
    assert rows["http://html-1007.test:80"].content_type == "text/html"
    assert rows["http://latin1-1006.test:80"].body.decode("latin-1").count("café") == 1

    # The server's side: politeness, the proxy, and one fetch per try.
    log = server.lines()
    assert [line for line in log if line[0] == "OVERLAP"] == []
    agent, = server.agents()
    assert agent.startswith("clearcrawl-robots/") and "(+https://" in agent  # a contact URL
    served = collections.Counter((line[1], line[2]) for line in log)
    for origin, fetch in rows.items():
        authority = origin.split("://", 1)[1]
        if fetch.status is not None and not fetch.redirect_chain:
            assert served[(authority, "/robots.txt")] == fetch.attempts, origin
    forms = {line[1].split(":")[0]: line[0] for line in log}
    assert forms.pop("127.0.0.1") == "direct"  # NO_PROXY honoured
    assert set(forms.values()) == {"proxy"}  # HTTP_PROXY honoured
    assert served[(f"{HUB_HOST}:80", "/robots.txt")] == FEW["tohub"]

    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["store_id"] == summary["store_id"] == store.store_id_of(manifest["parts"])
    assert manifest["fetches"] == 20_000
    # Plain Parquet: readable by any Parquet reader, bodies included.
    table = pq.read_table(tmp_path / "store" / "parts")
    assert table.num_rows == 20_000 and set(table.column_names) == set(store.COLUMNS)


def test_a_killed_fetch_resumes_without_fetching_any_origin_twice(tmp_path):
    origins = [f"http://{['allow', 'star', 'status404'][i % 3]}-{i}.test" for i in range(6000)]
    origins_file = tmp_path / "origins.txt"
    origins_file.write_text("\n".join(origins) + "\n")
    args = ("--origins", str(origins_file), "--store", str(tmp_path / "store"),
            "--concurrency", "16")
    server = Server(tmp_path, serve_limit=2000)
    try:
        child = fetch_command(tmp_path, server, *args, wait=False)
        deadline = time.monotonic() + 60
        while len(server.lines()) < 2000:
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the fetch made no progress"
            time.sleep(0.05)
        # Kill once the 2,000 answers are in the journal; 16 requests stay in flight.
        journal = tmp_path / "store" / "journal"
        while sum(p.read_bytes().count(b"\n") for p in journal.glob("*.jsonl")) < 2000:
            assert time.monotonic() < deadline, "the answers were not journaled"
            time.sleep(0.05)
        time.sleep(0.2)  # nothing more arrives: the server answers no more
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        server.stop()
    assert len(server.lines()) == 2000
    assert not (tmp_path / "store" / "parts").exists() or \
        not list((tmp_path / "store" / "parts").glob("*.parquet"))  # all in the journal

    server = Server(tmp_path)  # same log: it appends
    try:
        done = fetch_command(tmp_path, server, *args)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["recovered_from_journal"] == 2000
    assert summary["skipped_fresh"] == 2000 and summary["fetched"] == 4000

    served = collections.Counter(line[1] for line in server.lines())
    assert len(served) == 6000 and set(served.values()) == {1}  # no origin twice
    rows = collections.Counter(f.origin for f in reading.iter_fetches(tmp_path / "store"))
    assert set(rows) == {rf.normalize_origin(o) for o in origins}
    assert set(rows.values()) == {1}
    assert reading.verify_store(tmp_path / "store") == []


def test_max_age_and_failures_decide_what_a_rerun_fetches(tmp_path):
    origins = ["http://allow-1.test", "http://star-2.test", "http://status404-3.test",
               "http://status500-4.test"]
    origins_file = tmp_path / "origins.txt"
    origins_file.write_text("\n".join(origins) + "\n")
    args = ("--origins", str(origins_file), "--store", str(tmp_path / "store"),
            "--retries", "0")
    server = Server(tmp_path)
    try:
        runs = [json.loads(fetch_command(tmp_path, server, *args, *extra).stdout)
                for extra in ((), (), ("--max-age", "30"), ("--max-age", "0"))]
    finally:
        server.stop()
    # First run: all four. Then only the failure, which is always tried again; a
    # max-age of 30 days changes nothing; a max-age of 0 fetches everything again.
    assert [r["fetched"] for r in runs] == [4, 1, 1, 4]
    history = collections.defaultdict(list)
    for fetch in reading.iter_fetches(tmp_path / "store"):
        history[fetch.origin].append(fetch)
    assert {o: len(h) for o, h in history.items()} == {
        "http://allow-1.test:80": 2, "http://star-2.test:80": 2,
        "http://status404-3.test:80": 2, "http://status500-4.test:80": 4}
    applicable = {f.origin: f for f in reading.iter_applicable(tmp_path / "store")}
    assert set(applicable) == set(history)
    for origin, fetches in history.items():
        assert applicable[origin] == (rf.applicable_fetch(fetches)
                                      or rf.latest_fetch(fetches))
    assert applicable["http://status500-4.test:80"].outcome == rf.UNREACHABLE
    assert applicable["http://star-2.test:80"].fetched_at == max(
        f.fetched_at for f in history["http://star-2.test:80"])
    summary = reading.summarize(tmp_path / "store")
    assert (summary["origins"], summary["origins_with_success"], summary["fetches"]) == (4, 3, 10)


def test_bad_input_exits_2_naming_the_file_and_line(tmp_path):
    bad = tmp_path / "origins.txt"
    bad.write_text("http://fine.test\nftp://nope.test\n")
    server = Server(tmp_path)
    try:
        done = fetch_command(tmp_path, server, "--origins", str(bad), "--store",
                             str(tmp_path / "store"))
        missing = fetch_command(tmp_path, server, "--from-output", str(tmp_path / "nothing"),
                                "--store", str(tmp_path / "store"))
        neither = fetch_command(tmp_path, server, "--store", str(tmp_path / "store"))
    finally:
        server.stop()
    assert done.returncode == 2 and f"{bad}:2: not an http(s) origin" in done.stderr
    assert missing.returncode == 2 and "nothing/ledger" in missing.stderr
    assert neither.returncode == 2
    assert server.lines() == []
