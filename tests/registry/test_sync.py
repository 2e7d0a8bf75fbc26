"""`registry sync` against a real HTTP server on 127.0.0.1.

Every failure case checks the same promise: the previous good copy is byte-for-byte
intact, the command exits non-zero, and the message names the source.
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clearcrawl.cli import main as cli_main
from clearcrawl.registry.snapshot import Snapshot
from clearcrawl.registry.source import RemoteSource, load_source
from clearcrawl.registry.sync import SyncError, SyncLimits, check_scheme, sync_registry

GOOD_LIST = (b"# Title: test piracy list\n0.0.0.0 pirate-one.example\n"
             b"0.0.0.0 pirate-two.example # trailing comment\nbooks-mirror.example\n")
NEW_LIST = GOOD_LIST + b"pirate-three.example\n"
FAST = SyncLimits(timeout_s=0.5, retries=2, backoff_s=0.01, max_bytes=4096, max_redirects=3)


class _Server:
    """A tiny programmable web server: `routes[path]` is a list of responses served in
    turn (the last one repeats). A response is (status, headers, body, delay_s)."""

    def __init__(self):
        self.routes: dict[str, list] = {}
        self.seen: list[tuple[str, dict]] = []
        self.times: list[float] = []  # when each request arrived (time.monotonic)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.times.append(time.monotonic())
                server.seen.append((self.path, dict(self.headers)))
                queue = server.routes.get(self.path, [(404, {}, b"not found", 0)])
                status, headers, body, delay = queue.pop(0) if len(queue) > 1 else queue[0]
                etag = headers.get("ETag")
                if status == 200 and etag and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if headers.get("Transfer-Encoding") == "chunked":
                        for start in range(0, len(body), 1024):
                            chunk = body[start:start + 1024]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should on a slow or oversized body

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.close()


def _registry(tmp_path: Path, server: _Server, path: str = "/list.txt", **extra) -> Path:
    root = tmp_path / "reg"
    root.mkdir(exist_ok=True)
    lines = [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    (root / "registry.toml").write_text(
        'name = "sync-test"\n\n[[sources]]\nname = "piracy-list"\n'
        f'url = "{server.base}{path}"\nformat = "domains"\nkind = "piracy"\n'
        "insecure = true\n" + "".join(line + "\n" for line in lines))
    return root


def _synced(root: Path) -> Path:
    return root / "synced" / "piracy-list.txt"


def _sync_and_expect_failure(root: Path, capsys, fragment: str) -> None:
    before = _synced(root).read_bytes()
    code = cli_main(["registry", "sync", str(root), "--timeout", "0.5", "--retries", "2",
                     "--backoff", "0.01", "--max-mb", str(4096 / 2**20)])
    err = capsys.readouterr().err
    assert code == 1
    [source] = load_source(root).sources
    # Every failure line names the source by its name and by its URL.
    assert f"piracy-list <{source.url}>: failed (" in err and fragment in err, err
    assert f"sync failed for piracy-list <{source.url}>;" in err
    assert _synced(root).read_bytes() == before


def _first_sync(root: Path, server: _Server, path: str = "/list.txt") -> None:
    server.routes[path] = [(200, {"ETag": '"v1"'}, GOOD_LIST, 0)]
    [result] = sync_registry(root, FAST)
    assert result.status == "updated", result
    assert _synced(root).read_bytes() == GOOD_LIST


def test_200_then_304_with_etag_then_update(tmp_path, server):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    rules = {r.pattern for r in load_source(root).domain_rules}
    assert {"pirate-one.example", "pirate-two.example", "books-mirror.example"} <= rules

    [again] = sync_registry(root, FAST)
    assert again.status == "not_modified"
    assert server.seen[-1][1].get("If-None-Match") == '"v1"'
    assert _synced(root).read_bytes() == GOOD_LIST

    server.routes["/list.txt"] = [(200, {"ETag": '"v2"'}, NEW_LIST, 0)]
    first_id = Snapshot.from_source(load_source(root)).registry_id
    [updated] = sync_registry(root, FAST)
    assert updated.status == "updated" and updated.sha256 == hashlib.sha256(NEW_LIST).hexdigest()
    assert _synced(root).read_bytes() == NEW_LIST
    assert Snapshot.from_source(load_source(root)).registry_id != first_id


def test_conditional_request_is_dropped_when_the_copy_was_edited(tmp_path, server):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    _synced(root).write_bytes(b"hand-edited.example\n")
    [result] = sync_registry(root, FAST)
    assert "If-None-Match" not in server.seen[-1][1]
    assert result.status == "updated" and _synced(root).read_bytes() == GOOD_LIST


def test_404_keeps_the_previous_copy(tmp_path, server, capsys):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    server.routes["/list.txt"] = [(404, {}, b"gone", 0)]
    _sync_and_expect_failure(root, capsys, "HTTP 404")


def test_500_is_retried_then_recovers(tmp_path, server):
    root = _registry(tmp_path, server)
    server.routes["/list.txt"] = [(500, {}, b"oops", 0), (503, {}, b"busy", 0),
                                  (200, {}, GOOD_LIST, 0)]
    [result] = sync_registry(root, FAST)
    assert result.status == "updated"
    assert len(server.seen) == 3
    assert _synced(root).read_bytes() == GOOD_LIST


def test_500_that_persists_gives_up_and_keeps_the_copy(tmp_path, server, capsys):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    server.seen.clear()
    server.routes["/list.txt"] = [(500, {}, b"oops", 0)]
    _sync_and_expect_failure(root, capsys, "gave up after 3 attempts: HTTP 500")
    assert len(server.seen) == 3  # bounded retries


def test_slow_server_times_out(tmp_path, server, capsys):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    server.routes["/list.txt"] = [(200, {}, NEW_LIST, 2.0)]
    started = time.monotonic()
    _sync_and_expect_failure(root, capsys, "timed out")
    assert time.monotonic() - started < 5  # 3 attempts of 0.5 s, not 3 x 2 s


@pytest.mark.parametrize("encoding", ["content-length", "chunked"])
def test_oversized_body_is_refused(tmp_path, server, capsys, encoding):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    huge = b"".join(b"host%d.example\n" % i for i in range(2000))
    headers = {"Transfer-Encoding": "chunked"} if encoding == "chunked" else {}
    server.routes["/list.txt"] = [(200, headers, huge, 0)]
    _sync_and_expect_failure(root, capsys, "cap")


def test_sha256_pin_mismatch_is_refused(tmp_path, server, capsys):
    pin = hashlib.sha256(GOOD_LIST).hexdigest()
    root = _registry(tmp_path, server, sha256=pin)
    _first_sync(root, server)  # the pinned body is accepted
    server.routes["/list.txt"] = [(200, {}, NEW_LIST, 0)]
    _sync_and_expect_failure(root, capsys, f"sha256 pin mismatch: the body of "
                                           f"{server.base}/list.txt has")


def test_body_that_is_not_a_domain_list_is_refused(tmp_path, server, capsys):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    page = b"<html><body>" + b"<p>Sorry, this page has moved somewhere else</p>\n" * 40
    server.routes["/list.txt"] = [(200, {}, page + b"</body></html>", 0)]
    _sync_and_expect_failure(root, capsys, "not a domain list")


def test_redirect_is_followed_and_bounded(tmp_path, server, capsys):
    root = _registry(tmp_path, server, path="/old.txt")
    server.routes["/old.txt"] = [(301, {"Location": "/new.txt"}, b"", 0)]
    server.routes["/new.txt"] = [(200, {}, GOOD_LIST, 0)]
    [result] = sync_registry(root, FAST)
    assert result.status == "updated" and _synced(root).read_bytes() == GOOD_LIST
    assert [path for path, _ in server.seen] == ["/old.txt", "/new.txt"]

    server.routes["/new.txt"] = [(302, {"Location": "/old.txt"}, b"", 0)]  # a loop
    _sync_and_expect_failure(root, capsys, "more than 5 redirects")  # the CLI default


def test_redirect_to_plain_http_is_refused_for_a_secure_source():
    secure = RemoteSource("s", "https://lists.example/a.txt", "domains", "piracy")
    check_scheme(secure, "https://mirror.example/a.txt")
    with pytest.raises(SyncError, match="https required"):
        check_scheme(secure, "http://mirror.example/a.txt")
    with pytest.raises(SyncError, match="refusing file://"):
        check_scheme(secure, "file:///etc/passwd")


def test_unreachable_source_is_named(tmp_path, capsys):
    root = tmp_path / "reg"
    root.mkdir()
    (root / "registry.toml").write_text(
        'name = "t"\n[[sources]]\nname = "dead-list"\nurl = "http://127.0.0.1:9/x.txt"\n'
        'format = "domains"\nkind = "piracy"\ninsecure = true\n')
    code = cli_main(["registry", "sync", str(root), "--retries", "0", "--timeout", "0.5"])
    assert code == 1 and "dead-list <http://127.0.0.1:9/x.txt>: failed" in capsys.readouterr().err
    assert not (root / "synced" / "dead-list.txt").exists()


def test_real_robots_json_catalogue_syncs(tmp_path, server, shared_data):
    body = (shared_data / "ai-robots-txt" / "robots.json").read_bytes()
    root = tmp_path / "reg"
    root.mkdir()
    (root / "registry.toml").write_text(
        f'name = "t"\n[[sources]]\nname = "agents"\nurl = "{server.base}/robots.json"\n'
        'format = "robots-json"\ninsecure = true\n')
    server.routes["/robots.json"] = [(200, {}, body, 0)]
    [result] = sync_registry(root, SyncLimits(max_bytes=10 * 2**20))
    assert result.status == "updated", result
    agents = load_source(root).agents
    assert "GPTBot" in agents and len(agents) > 100
    assert result.message == f"{len(agents)} agents"
    server.routes["/robots.json"] = [(200, {}, b"[1, 2, 3]", 0)]
    [bad] = sync_registry(root, SyncLimits(max_bytes=10 * 2**20))
    assert bad.status == "failed" and "invalid robots-json" in bad.message
    assert (root / "synced" / "agents.json").read_bytes() == body


# An AdGuard-format list (as the Block List Project publishes them) with two lines that are
# not host rules: line 5 hides page elements, line 7 names a public suffix.
ADGUARD_LIST = (b"! Title: test piracy list (AdGuard)\n[Adblock Plus 2.0]\n"
                b"||pirate-one.example^\n||pirate-two.example^$important\n"
                b"pirate-one.example##.download-button\n*.wild-mirror.example\n||github.io^\n"
                + b"".join(b"||pirate-%d.example^\n" % i for i in range(20)))


def test_a_synced_list_with_odd_lines_stays_usable_and_validate_names_each_line(
        tmp_path, server, capsys):
    root = _registry(tmp_path, server)
    server.routes["/list.txt"] = [(200, {}, ADGUARD_LIST, 0)]
    [result] = sync_registry(root, FAST)
    assert result.status == "updated", result

    assert cli_main(["registry", "build", str(root), "--output", str(tmp_path / "snap")]) == 0
    err = capsys.readouterr().err
    assert "warning: synced/piracy-list.txt:5: not a host rule" in err, err
    rules = {r.pattern for r in load_source(root).domain_rules}
    assert {"pirate-one.example", "pirate-two.example", "wild-mirror.example",
            "pirate-19.example"} <= rules
    assert "github.io" not in rules

    assert cli_main(["registry", "validate", str(root)]) == 2
    err = capsys.readouterr().err
    assert "synced/piracy-list.txt:5: not a host rule" in err and "page-element" in err, err
    assert "synced/piracy-list.txt:7: not a host rule" in err and "public suffix" in err, err
    assert "2 problem(s)" in err and "warning:" not in err


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited_for(tmp_path, server, status):
    root = _registry(tmp_path, server)
    server.routes["/list.txt"] = [(status, {"Retry-After": "1"}, b"slow down", 0),
                                  (200, {}, GOOD_LIST, 0)]
    limits = SyncLimits(timeout_s=10, retries=2, backoff_s=0.01, max_bytes=4096)
    [result] = sync_registry(root, limits)
    assert result.status == "updated" and _synced(root).read_bytes() == GOOD_LIST
    assert len(server.times) == 2
    # The backoff alone would wait 0 s before the first retry; the server asked for 1 s.
    assert 1.0 <= server.times[1] - server.times[0] < 5.0


def test_a_retry_after_past_the_timeout_gives_up_at_once(tmp_path, server, capsys):
    root = _registry(tmp_path, server)
    _first_sync(root, server)
    server.times.clear()
    server.routes["/list.txt"] = [(503, {"Retry-After": "120"}, b"maintenance", 0)]
    started = time.monotonic()
    _sync_and_expect_failure(root, capsys, "gave up after 1 attempt: HTTP 503 from "
                                           f"{server.base}/list.txt, Retry-After 120")
    assert time.monotonic() - started < 5 and len(server.times) == 1


def test_timeout_caps_retries_and_backoff_together(tmp_path, server):
    root = _registry(tmp_path, server)
    server.routes["/list.txt"] = [(500, {}, b"oops", 0)]
    limits = SyncLimits(timeout_s=1.0, retries=10, backoff_s=5.0, max_bytes=4096)
    started = time.monotonic()
    [result] = sync_registry(root, limits)
    # urllib3 retries at once, then would wait 10 s, 20 s, ...: past the 1 s limit.
    assert result.status == "failed" and "gave up after 2 attempts: HTTP 500" in result.message
    assert time.monotonic() - started < 3 and len(server.times) == 2

