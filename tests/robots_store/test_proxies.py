"""HTTP_PROXY / HTTPS_PROXY / NO_PROXY as the fetcher reads them (the standard rules)."""

import pytest

from clearcrawl.robots_store.fetch import Proxies


@pytest.fixture
def environment(monkeypatch):
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY",
                 "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_each_scheme_has_its_proxy_and_no_proxy_bypasses_it(environment):
    environment.setenv("HTTP_PROXY", "http://user:secret@proxy.corp:3128")
    environment.setenv("https_proxy", "http://tls-proxy.corp:3129")
    environment.setenv("NO_PROXY", "localhost,.intranet.corp,10.1.2.3")
    proxies = Proxies()
    url, auth = proxies.for_url("http", "example.com")
    assert str(url) == "http://proxy.corp:3128" and (auth.login, auth.password) == (
        "user", "secret")
    assert str(proxies.for_url("https", "example.com")[0]) == "http://tls-proxy.corp:3129"
    for host in ("localhost", "wiki.intranet.corp", "10.1.2.3"):
        assert proxies.for_url("http", host) == (None, None)


def test_without_variables_every_request_is_direct(environment):
    assert Proxies().for_url("http", "example.com") == (None, None)
    assert Proxies().for_url("https", "example.com") == (None, None)
