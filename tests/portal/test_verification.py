"""Proof of control over real HTTP: a site on 127.0.0.1 publishes the request's token at
/.well-known/, directly and through an HTTP proxy named by HTTP(S)_PROXY."""

from __future__ import annotations

import contextlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

from clearcrawl.portal.verification import WELL_KNOWN
from tests.portal.conftest import Operator, file, serve, status


class Site(BaseHTTPRequestHandler):
    """A rights holder's site: serves `server.token` at the well-known path."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.seen.append(self.path)
        token = self.server.token
        if self.path != WELL_KNOWN or token is None:
            self.send_error(404)
            return
        body = f"{token}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Proxy(BaseHTTPRequestHandler):
    """A forward proxy for plain http (absolute-form requests) that sends every host to
    the site above; CONNECT (https) is refused, as by a proxy without TLS tunnels."""

    def do_GET(self):  # noqa: N802
        self.server.seen.append(f"GET {self.path}")
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.site_port, timeout=10)
        upstream.request("GET", target.path, headers={"Host": target.netloc})
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        upstream.close()

    def do_CONNECT(self):  # noqa: N802
        self.server.seen.append(f"CONNECT {self.path}")
        self.send_error(502, "no TLS tunnels here")

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def running(handler, **attributes):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen = []
    for name, value in attributes.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def _verify(base: str, filed: dict) -> requests.Response:
    return requests.post(f"{base}/api/v1/requests/{filed['id']}/verify",
                         headers={"Authorization": f"Bearer {filed['token']}"}, timeout=60)


def test_token_published_on_the_site_verifies_the_request(registry, sqlite_url, no_proxy):
    with running(Site, token=None) as site, \
            serve(registry, sqlite_url, allow_private_verification=True) as base:
        prefix = f"http://127.0.0.1:{site.server_port}/press/"
        filed = file(base, kind="url_prefix", value=prefix).json()
        token = status(base, filed["id"], filed["token"]).json()["verification"]["token"]
        first = _verify(base, filed).json()
        assert first["verified"] is False and "HTTP 404" in first["message"]
        site.token = "someone else's token"
        assert "does not hold this request's token" in _verify(base, filed).json()["message"]
        site.token = token
        second = _verify(base, filed).json()
        assert second["verified"] is True
        assert second["url"] == f"http://127.0.0.1:{site.server_port}{WELL_KNOWN}"
        assert site.seen == [WELL_KNOWN] * 3
        seen = status(base, filed["id"], filed["token"]).json()["verification"]
        assert seen["verified"] is True and seen["verified_url"] == second["url"]
        operator = Operator(base)
        [item] = operator.get("/api/v1/operator/requests").json()["requests"]
        assert item["verified"] is True
        assert operator.post(f"/api/v1/operator/requests/{filed['id']}/approve").ok
    row = (registry / "domains" / "requests.csv").read_text().splitlines()[1]
    assert row.startswith("req-") and "control verified at http://127.0.0.1:" in row


def test_private_addresses_are_not_fetched_by_default(registry, sqlite_url, no_proxy):
    with running(Site, token="x") as site, serve(registry, sqlite_url) as base:
        filed = file(base, kind="url_prefix",
                     value=f"http://127.0.0.1:{site.server_port}/").json()
        answer = _verify(base, filed).json()
        local = file(base, kind="domain", value="localhost.localdomain").json()
        local_answer = _verify(base, local).json()
    assert answer["verified"] is False and "non-public address (127.0.0.1)" in answer["message"]
    assert local_answer["verified"] is False
    assert site.seen == []


def test_verification_goes_through_the_configured_proxy(registry, sqlite_url, monkeypatch):
    with running(Site, token=None) as site, running(Proxy, site_port=0) as proxy, \
            serve(registry, sqlite_url) as base:
        proxy.site_port = site.server_port
        filed = file(base, kind="domain", value="Owner.Example").json()
        site.token = status(base, filed["id"], filed["token"]).json()["verification"]["token"]
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the test talks to the portal
        answer = _verify(base, filed).json()
    assert answer["verified"] is True, answer
    assert answer["url"] == f"http://owner.example{WELL_KNOWN}"
    # https first (a tunnel the proxy refuses), then http through the proxy.
    assert proxy.seen == ["CONNECT owner.example:443",
                          f"GET http://owner.example{WELL_KNOWN}"]
    assert site.seen == [WELL_KNOWN]
