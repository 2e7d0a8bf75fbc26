"""URL and host normalisation, and registrable domains (offline Public Suffix List).

Rules match on hosts, never on raw strings: a host is lower-cased, stripped of
trailing dots, user info and port, and IDNA-encoded, so `EXAMPLE.com.`,
`exämple.com` and `xn--exmple-cua.com` compare as the same host.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import NamedTuple
from urllib.parse import urlsplit

import tldextract

# Bundled suffix list only: the pipeline never touches the network (no PSL fetch).
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
_NEEDS_ESCAPE = re.compile(r"[\x00-\x20]")


class SplitUrl(NamedTuple):
    scheme: str
    host: str
    port: int | None
    path: str  # path + ";params" + "?query", never empty ("/" at least)


@functools.lru_cache(maxsize=65536)
def normalize_host(host: str) -> str:
    """Canonical form of a host: lower-case ASCII (IDNA), no port, no trailing dot.

    Lenient: whatever cannot be IDNA-encoded is returned lower-cased, so odd web
    input never raises. Odd input can need more than one pass (a bracketed name,
    an IDNA form ending in a dot): passes repeat until nothing changes, so that a
    normalised host normalises to itself.
    """
    for _ in range(8):
        once = _normalize_host_once(host)
        if once == host:
            break
        host = once
    return host


def _normalize_host_once(host: str) -> str:
    host = host.strip()
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    if host.startswith("["):  # IPv6 literal, maybe with a port
        end = host.find("]")
        return host[1:end].lower() if end > 0 else host.lower()
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def split_url(url: str) -> SplitUrl:
    """Split a URL leniently; a URL that cannot be parsed gives an empty host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = normalize_host(parts.hostname or "")
    except ValueError:
        return SplitUrl("", "", None, "/")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return SplitUrl(parts.scheme.lower(), host, port, path)


def host_of(url: str) -> str:
    return split_url(url).host


def is_ip(host: str) -> bool:
    if ":" not in host and not host[-1:].isdigit():
        return False  # names end in a letter: skip the slow parse for almost every host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=65536)
def registered_domain(host: str) -> str:
    """Registrable domain (eTLD+1) of a normalised host, e.g. `a.b.example.co.uk` -> `example.co.uk`.

    IP addresses are their own registrable domain. A host under a suffix that the
    Public Suffix List does not know (such as the reserved `.example`) falls back
    to its last two labels, so every document still has a domain to report.
    """
    if not host:
        return ""
    if is_ip(host):
        return host
    ext = _EXTRACT(host)
    if ext.suffix and ext.domain:
        return f"{ext.domain}.{ext.suffix}"
    if ext.suffix:  # the host is itself a public suffix
        return host
    labels = host.split(".")
    return ".".join(labels[-2:])


def host_ancestors(host: str) -> list[str]:
    """The host and every parent: `a.b.c` -> [`a.b.c`, `b.c`, `c`]."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def normalize_path(path: str, dot_segments: bool = True) -> str:
    """One spelling of a path (with its `;params` and `?query`), so that two spellings of
    one resource compare equal (RFC 3986 6.2.2). Every path match uses it, on both sides:
    robots.txt, Content-Usage and ai.txt patterns, TDMRep locations, URL-prefix rules.

    - percent-escapes of unreserved characters are decoded (`%7E` -> `~`, 2.3), the
      others upper-cased (`%c3%a9` -> `%C3%A9`, 6.2.2.1);
    - non-ASCII characters are encoded as UTF-8 escapes, as are spaces and control bytes;
    - with `dot_segments`, `.` and `..` segments of the path (not of the query) are
      removed (5.2.4): `/free/../premium/x` -> `/premium/x`. Patterns keep theirs.
    """
    if path.isascii() and "%" not in path and not _NEEDS_ESCAPE.search(path):
        return _remove_dot_segments_of(path) if dot_segments else path
    raw = path.encode("utf-8", "surrogatepass")

    def _fix(match: re.Match) -> bytes:
        value = int(match.group(1), 16)
        if value in _UNRESERVED:
            return bytes([value])
        return b"%" + match.group(1).upper()

    raw = _PERCENT.sub(_fix, raw)
    out = bytearray()
    for byte in raw:
        if byte > 0x7F or byte <= 0x20:
            out += b"%%%02X" % byte
        else:
            out.append(byte)
    text = out.decode("ascii")
    return _remove_dot_segments_of(text) if dot_segments else text


def _remove_dot_segments_of(path: str) -> str:
    """RFC 3986 5.2.4 on the path part (before `?`) of a path-and-query."""
    cut = path.find("?")
    head, tail = (path, "") if cut < 0 else (path[:cut], path[cut:])
    if "." not in head:
        return path
    return remove_dot_segments(head) + tail


def remove_dot_segments(path: str) -> str:
    """The algorithm of RFC 3986 5.2.4, step by step."""
    rest, out = path, []
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("/./"):
            rest = rest[2:]
        elif rest == "/.":
            rest = "/"
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:]
            if out:
                out.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            end = rest.find("/", 1)
            end = len(rest) if end < 0 else end
            out.append(rest[:end])
            rest = rest[end:]
    return "".join(out)


def origin_key(url: str) -> str:
    """`scheme://host:port` with the default port made explicit: robots.txt scope."""
    parts = split_url(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    return f"{parts.scheme}://{parts.host}:{port}"


def normalize_url(url: str) -> str:
    """Canonical URL for prefix rules: lower-case scheme and host, default port
    dropped, path percent-encoding normalised, fragment dropped."""
    parts = split_url(url)
    port = non_default_port(parts)
    return f"{parts.scheme}://{parts.host}{f':{port}' if port else ''}{normalize_path(parts.path)}"


def non_default_port(parts: SplitUrl) -> int | None:
    """The URL's port, or None when it is its scheme's default (80 for http, 443 for https)."""
    return None if parts.port in (None, _DEFAULT_PORTS.get(parts.scheme)) else parts.port
