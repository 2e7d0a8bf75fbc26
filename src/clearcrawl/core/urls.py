"""URL and host normalisation, and registrable domains (offline Public Suffix List).

Rules match on hosts, never on raw strings. Hosts are read from URLs as a browser
does (WHATWG URL standard), then lower-cased, stripped of trailing dots and port,
and IDNA-encoded with UTS-46 non-transitional processing (IDNA2008, as browsers and
registries do), so `EXAMPLE.com.`, `exämple.com` and `xn--exmple-cua.com` compare as
the same host, and `faß.de` is `xn--fa-hia.de`, never `fass.de` (IDNA2003).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import NamedTuple
from urllib.parse import unquote

import idna
import tldextract

# Bundled suffix list only: the pipeline never touches the network (no PSL fetch).
# The private part counts too: `user.github.io` is its own registrable domain.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                                 include_psl_private_domains=True)

_DEFAULT_PORTS = {"http": 80, "https": 443}
# WHATWG special schemes (their authority ends at a backslash too); `file` has no host.
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SPECIAL_AUTHORITY_END = re.compile(r"[/\\?#]")
_AUTHORITY_END = re.compile(r"[/?#]")
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_C0_SPACE = "".join(map(chr, range(0x21)))
# WHATWG "ends in a number": the last label is decimal or 0x-hex, so the host is IPv4.
_ENDS_IN_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$")
_IPV4_PART = re.compile(r"[0-9]+|0x[0-9a-f]*")
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
    """Canonical form of a host: lower-case ASCII (UTS-46 IDNA), no port, no trailing dot.

    The one host normalisation for rules and URLs alike. Lenient: whatever cannot
    be IDNA-encoded is returned lower-cased, so odd web input never raises. Odd
    input can need more than one pass (a bracketed name, an IDNA form ending in a
    dot): passes repeat until nothing changes, so a normalised host normalises to itself.
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
        if end < 0:
            return host[1:]  # unclosed: what follows is still the name the URL meant
        try:
            return ipaddress.IPv6Address(host[1:end]).compressed
        except ValueError:
            return host[1:end].lower()
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    if "%" in host:  # the WHATWG host parser percent-decodes before IDNA
        try:
            host = unquote(host, errors="strict")
        except UnicodeDecodeError:
            pass
    host = host.rstrip(".")
    if host.isascii():
        host = host.lower()
        if _ENDS_IN_NUMBER.search(host):
            host = _ipv4_numbers(host)
        return host
    return _to_ascii(host)


def _ipv4_numbers(host: str) -> str:
    """WHATWG IPv4 parser: `0x7f.1` and `2130706433` are 127.0.0.1 to a browser.
    A host that is not a valid number form is returned unchanged."""
    labels = host.split(".")
    if len(labels) > 4 or not all(_IPV4_PART.fullmatch(label) for label in labels):
        return host
    numbers = []
    for label in labels:
        if label.startswith("0x"):
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                return host
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return host
    value = numbers[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))


def _to_ascii(host: str) -> str:
    """UTS-46 ToASCII, non-transitional (`ß`, `ς` and ZWJ kept, as IDNA2008 requires).

    Labels that IDNA2008 refuses (symbols such as `☃`) are still mapped and
    Punycode-encoded, as browsers do (they skip the IDNA2008 code point checks), so
    a rule and a URL naming such a host still meet.
    """
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        return host.lower()
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label)
        else:
            try:
                labels.append("xn--" + label.encode("punycode").decode("ascii"))
            except UnicodeError:
                labels.append(label)
    return ".".join(labels)


def split_url(url: str) -> SplitUrl:
    """Split a URL leniently, finding its host as a browser's URL parser (WHATWG) does.

    Backslashes end the authority of http(s) URLs, `user@` is dropped at the last
    `@` of the authority, and the host is kept even where a browser would refuse
    the URL for another reason (a port out of range or not a number, an unclosed
    `[`): the host is what the page's owner is known by. A URL without an
    authority (relative, `mailto:`) gives an empty host.
    """
    url = url.strip(_C0_SPACE)
    if "\t" in url or "\n" in url or "\r" in url:  # rare: translate costs more than the tests
        url = url.translate(_TAB_NEWLINE)
    scheme_match = _SCHEME.match(url)
    if not scheme_match:
        return SplitUrl("", "", None, "/")
    scheme = scheme_match.group()[:-1].lower()
    rest = url[scheme_match.end():]
    special = scheme in _SPECIAL_SCHEMES
    if special:
        rest = rest.lstrip("/\\")  # WHATWG "special authority ignore slashes" state
        end = _SPECIAL_AUTHORITY_END.search(rest)
    elif rest.startswith("//"):
        rest = rest[2:]
        end = _AUTHORITY_END.search(rest)
    else:
        return SplitUrl(scheme, "", None, "/")
    authority, tail = (rest[:end.start()], rest[end.start():]) if end else (rest, "")
    host, port = _host_and_port(authority.rpartition("@")[2])
    tail = tail.partition("#")[0]
    if special:
        tail = tail.replace("\\", "/")
    path, _, query = tail.partition("?")
    path = path or "/"
    if query:
        path = f"{path}?{query}"
    return SplitUrl(scheme, normalize_host(host), port, path)


def _host_and_port(hostport: str) -> tuple[str, int | None]:
    """(raw host, port or None when absent or invalid) of `host[:port]`."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end >= 0:
            host, after = hostport[:end + 1], hostport[end + 1:]
            port = after[1:] if after.startswith(":") else ""
        else:  # unclosed IPv6 bracket: the name after it is the host
            host, _, port = hostport[1:].partition(":")
    else:
        host, _, port = hostport.partition(":")
    if port.isascii() and port.isdigit() and int(port) <= 65535:
        return host, int(port)
    return host, None


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

    The Public Suffix List's private part counts too, so `a.user.github.io` ->
    `user.github.io`: sites of different owners under one hosting suffix stay apart.
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


@functools.lru_cache(maxsize=4096)
def is_public_suffix(host: str) -> bool:
    """Whether a normalised host is a public suffix (ICANN or private part of the PSL),
    such as `co.uk` or `github.io`: a rule on it would cover unrelated registrants."""
    if not host or is_ip(host):
        return False
    ext = _EXTRACT(host)
    return bool(ext.suffix) and not ext.domain


def host_ancestors(host: str) -> list[str]:
    """The host and every parent: `a.b.c` -> [`a.b.c`, `b.c`, `c`]; an IP address only itself."""
    if is_ip(host):
        return [host]
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
    return origin_of(split_url(url))


def origin_of(parts: SplitUrl) -> str:
    """origin_key of a URL already split."""
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
