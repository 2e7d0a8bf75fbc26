"""Proof of control: the rights holder publishes the request's verification token at
`/.well-known/clearcrawl-verification.txt` on the site, and the portal fetches it.

The fetch honours HTTP_PROXY / HTTPS_PROXY / NO_PROXY (requests reads them). It asks
only that one path, follows no redirect, reads at most 4 KB and waits at most a few
seconds; without a proxy, hosts that resolve to loopback, private or link-local
addresses are refused, so the check cannot be turned against the portal's own network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import requests

from clearcrawl.core.urls import split_url

WELL_KNOWN = "/.well-known/clearcrawl-verification.txt"
MAX_BYTES = 4096
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    verified: bool
    url: str
    message: str


def candidate_urls(kind: str, value: str, pattern: str) -> list[str]:
    """Where the token is looked for: the typed origin of a URL prefix; https then http
    for a domain."""
    if kind == "url_prefix":
        parts = split_url(value)
        port = f":{parts.port}" if parts.port else ""
        return [f"{parts.scheme}://{parts.host}{port}{WELL_KNOWN}"]
    return [f"https://{pattern}{WELL_KNOWN}", f"http://{pattern}{WELL_KNOWN}"]


def check(kind: str, value: str, pattern: str, token: str, allow_private: bool = False) -> Check:
    failures = []
    for url in candidate_urls(kind, value, pattern):
        result = _check_one(url, token, allow_private)
        if result.verified:
            return result
        failures.append(result.message)
    return Check(False, "", "; ".join(failures))


def _check_one(url: str, token: str, allow_private: bool) -> Check:
    host = split_url(url).host
    if not allow_private and not requests.utils.get_environ_proxies(url):
        refusal = _private_address(host)
        if refusal:
            return Check(False, url, f"{url}: {refusal}")
    try:
        with requests.get(url, timeout=TIMEOUT_S, allow_redirects=False, stream=True,
                          headers={"User-Agent": "clearcrawl-portal-verification"}) as answer:
            body = answer.raw.read(MAX_BYTES + 1, decode_content=True)
            status = answer.status_code
    except requests.RequestException as exc:
        return Check(False, url, f"{url}: cannot fetch ({type(exc).__name__})")
    if status != 200:
        return Check(False, url, f"{url}: answered HTTP {status}, expected 200 with the token")
    if len(body) > MAX_BYTES:
        return Check(False, url, f"{url}: more than {MAX_BYTES} bytes; publish only the token")
    if body.decode("utf-8", errors="replace").strip() != token:
        return Check(False, url, f"{url}: the file does not hold this request's token")
    return Check(True, url, f"{url} holds the token")


def _private_address(host: str) -> str | None:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return f"cannot resolve {host}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return f"{host} resolves to a non-public address ({address}); not checked"
    return None
