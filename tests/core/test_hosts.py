"""Hosts as browsers and registries see them (issue 17, host side): one row per case,
with the standard that decides it beside each row.

WHATWG = URL Living Standard (url.spec.whatwg.org), UTS-46 = Unicode IDNA Compatibility
Processing (non-transitional, as WHATWG "domain to ASCII" and IDNA2008 / RFC 5891 require),
PSL = Public Suffix List (publicsuffix.org, ICANN and PRIVATE sections).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearcrawl import reasons
from clearcrawl.core.domainlist import parse_domain_list
from clearcrawl.core.domains import DomainRule, DomainRuleIndex, normalize_pattern
from clearcrawl.core.urls import (
    host_of,
    is_public_suffix,
    normalize_host,
    registered_domain,
    split_url,
)

# 17.3: (rule pattern, document URL, covered?, standard)
IDN_RULES = [
    ("faß.de", "https://xn--fa-hia.de/x", True, "UTS-46 non-transitional: ß is kept (IDNA2008)"),
    ("faß.de", "https://faß.de/x", True, "UTS-46: rule and URL take the same path"),
    ("faß.de", "https://www.FAß.DE./x", True, "UTS-46 mapping lower-cases; trailing dot"),
    ("faß.de", "https://fass.de/x", False, "IDNA2003 mapped ß to ss: another registrant"),
    ("fass.de", "https://faß.de/x", False, "IDNA2008: fass.de and faß.de are two domains"),
    ("xn--fa-hia.de", "https://faß.de/x", True, "A-label rule meets the U-label URL"),
    ("βόλος.gr", "https://xn--nxasmm1c.gr/", True, "UTS-46 non-transitional: final ς kept"),
    ("βόλος.gr", "https://xn--nxasmq6b.gr/", False, "IDNA2003 form βόλοσ: another name"),
    ("ΒΌΛΟΣ.gr", "https://βόλοσ.gr/", True, "UTS-46 maps capital Σ to σ"),
    ("ΒΌΛΟΣ.gr", "https://βόλος.gr/", False, "UTS-46 never maps Σ to final ς"),
    ("ශ්‍රී.lk", "https://xn--10cl1a0b660p.lk/", True, "UTS-46 non-transitional: ZWJ kept "
     "(RFC 5892 CONTEXTJ after virama)"),
    ("ශ්‍රී.lk", "https://xn--10cl1a0b.lk/", False, "IDNA2003 dropped the ZWJ: another name"),
    ("example.com", "https://ex%61mple.com/", True, "WHATWG host parser percent-decodes"),
    ("example.com", "https://ｅｘａｍｐｌｅ。com/", True, "UTS-46 maps full-width letters and dot"),
    ("127.0.0.1", "http://0x7f.1/", True, "WHATWG IPv4 parser: hex and short forms"),
    ("127.0.0.1", "http://2130706433/", True, "WHATWG IPv4 parser: one 32-bit number"),
]

# 17.4: (URL, host, port, standard). An empty host means none can be found.
PARSED_HOSTS = [
    ("https://torrent-index.example:99999/x", "torrent-index.example", None,
     "WHATWG port state: out of range fails the URL, the host is still the host"),
    ("https://torrent-index.example:80a/x", "torrent-index.example", None,
     "WHATWG port state: a non-digit fails the URL, not the host"),
    ("https://torrent-index.example:-1/x", "torrent-index.example", None,
     "WHATWG port state: '-' is not a digit"),
    ("http://[torrent-index.example/x", "torrent-index.example", None,
     "WHATWG host parser: unclosed '[' fails; the name after it is the host"),
    ("https://torrent-index.example\\@other.example/x", "torrent-index.example", None,
     "WHATWG authority state: '\\' ends the authority of a special scheme"),
    ("https:\\\\torrent-index.example\\x", "torrent-index.example", None,
     "WHATWG special authority slashes: '\\' counts as '/'"),
    ("https:torrent-index.example/x", "torrent-index.example", None,
     "WHATWG special authority ignore slashes state"),
    ("https:////torrent-index.example/x", "torrent-index.example", None,
     "WHATWG special authority ignore slashes state"),
    ("\t https://torrent-\nindex.example/x ", "torrent-index.example", None,
     "WHATWG basic URL parser: strip C0/space, remove tab and newline"),
    ("https://user:pw@evil.example@torrent-index.example/x", "torrent-index.example", None,
     "WHATWG authority state: the host follows the last '@'"),
    ("https://torrent-index.example?q=@other.example", "torrent-index.example", None,
     "WHATWG authority state: '?' ends the authority"),
    ("https://torrent-index.example#@other.example", "torrent-index.example", None,
     "WHATWG authority state: '#' ends the authority"),
    ("https://torrent-index.example:8443/x", "torrent-index.example", 8443, "RFC 3986 3.2.3"),
    ("http://[2001:DB8:0::1]:8080/x", "2001:db8::1", 8080, "WHATWG IPv6 serializer"),
    ("", "", None, "no URL"),
    ("/relative/path", "", None, "WHATWG: no scheme, no base: failure"),
    ("//torrent-index.example/x", "", None, "WHATWG: scheme-relative without a base"),
    ("mailto:x@torrent-index.example", "", None, "WHATWG: non-special, no authority"),
    ("https:///", "", None, "WHATWG: special scheme with an empty host"),
    ("https://user@/x", "", None, "WHATWG: credentials and no host"),
]

# 17.3 / PSL private section: (host, registrable domain, standard)
REGISTRABLE = [
    ("user.github.io", "user.github.io", "PSL PRIVATE: github.io is a suffix"),
    ("a.b.user.github.io", "user.github.io", "PSL PRIVATE"),
    ("news.foo.blogspot.com", "foo.blogspot.com", "PSL PRIVATE: blogspot.com"),
    ("github.io", "github.io", "a suffix is its own domain"),
    ("a.b.example.co.uk", "example.co.uk", "PSL ICANN: co.uk"),
    ("news.publisher.example", "publisher.example", "not in the PSL: last two labels"),
    ("192.0.2.1", "192.0.2.1", "an IP address is its own domain"),
]

# Registry rules on public suffixes: (pattern, refused?, standard)
SUFFIX_RULES = [
    ("co.uk", True, "PSL ICANN section"),
    ("github.io", True, "PSL PRIVATE section"),
    ("*.github.io", False, "not a host: the list parser strips `*.` first (see LIST_LINES)"),
    ("user.github.io", False, "a registrable domain under a private suffix"),
    ("example.co.uk", False, "a registrable domain"),
    ("https://github.io/docs/", False, "a URL prefix covers one host only"),
]

# 17.11: (domain list line, hosts read, problem expected?, format)
LIST_LINES = [
    ("*.wild.example", ["wild.example"], False, "wildcard: the host and its subdomains"),
    (".dot.example", ["dot.example"], False, "leading dot (squid, dnsmasq style)"),
    ("||adblock.example^", ["adblock.example"], False, "AdGuard/Adblock domain anchor"),
    ("||adblock.example^$third-party", ["adblock.example"], False, "Adblock with options"),
    ("server=/dnsmasq.example/", ["dnsmasq.example"], False, "dnsmasq (Block List Project)"),
    ("address=/dnsmasq.example/0.0.0.0", ["dnsmasq.example"], False, "dnsmasq address"),
    ("server=/a.example/b.example/", ["a.example", "b.example"], False, "dnsmasq, two names"),
    ("0.0.0.0 hosts.example", ["hosts.example"], False, "hosts file (Block List Project)"),
    ("faß.de", ["xn--fa-hia.de"], False, "UTS-46 in lists too"),
    ("! Title: a list", [], False, "Adblock comment"),
    ("[Adblock Plus 2.0]", [], False, "Adblock header"),
    ("example.com##.banner", [], True, "Adblock element hiding: not a host rule"),
    ("@@||allowed.example^", [], True, "Adblock exception: not a removal"),
    ("||prefix.exam", [], True, "Adblock prefix without ^: not a host"),
    ("/banner[0-9]+/", [], True, "Adblock regular expression"),
    ("*.co.uk", [], True, "PSL: a wildcard on a public suffix"),
    ("storage.yandexcloud.net", [], True, "PSL PRIVATE (a real UT1 filehosting line)"),
]


def _index(*patterns: str) -> DomainRuleIndex:
    rules = []
    for number, pattern in enumerate(patterns):
        normalized, error = normalize_pattern(pattern)
        assert error is None, (pattern, error)
        rules.append(DomainRule(f"r{number}", "piracy", normalized))
    return DomainRuleIndex(rules)


@pytest.mark.parametrize(("pattern", "url", "covered", "standard"), IDN_RULES)
def test_idn_rules_match_as_idna2008(pattern, url, covered, standard):
    found = [(e.kind, e.entry_id) for e in _index(pattern).match(url)]
    assert found == ([(reasons.PIRACY_DOMAIN, "r0")] if covered else []), standard


@pytest.mark.parametrize(("url", "host", "port", "standard"), PARSED_HOSTS)
def test_hosts_are_parsed_as_browsers_do(url, host, port, standard):
    parts = split_url(url)
    assert (parts.host, parts.port) == (host, port), standard
    assert host_of(url) == host


def test_a_rule_covers_the_odd_urls_of_its_host():
    index = _index("torrent-index.example")
    for url, host, _port, standard in PARSED_HOSTS:
        if host == "torrent-index.example":
            assert [e.entry_id for e in index.match(url)] == ["r0"], (url, standard)
    assert index.match("https://torrent-index.example\\@other.example/x")
    assert not _index("other.example").match("https://torrent-index.example\\@other.example/x")


@pytest.mark.parametrize(("host", "domain", "standard"), REGISTRABLE)
def test_registered_domain_uses_the_private_psl(host, domain, standard):
    assert registered_domain(host) == domain, standard


@pytest.mark.parametrize(("pattern", "refused", "standard"), SUFFIX_RULES)
def test_public_suffixes_are_refused_as_host_rules(pattern, refused, standard):
    normalized, error = normalize_pattern(pattern)
    if refused:
        assert normalized is None and "public suffix" in error, standard
        assert is_public_suffix(normalize_host(pattern))
    elif not pattern.startswith("*"):
        assert error is None and normalized, standard


@pytest.mark.parametrize(("line", "hosts", "problem", "form"), LIST_LINES)
def test_domain_list_lines(line, hosts, problem, form):
    text = f"# a list\n{line}\n"
    found, problems = parse_domain_list(text)
    assert found == hosts, form
    assert [number for number, _ in problems] == ([2] if problem else []), (form, problems)


def test_a_wildcard_line_covers_the_host_and_its_subdomains():
    hosts, _ = parse_domain_list("*.wild.example\n||ad.example^\n")
    index = DomainRuleIndex([DomainRule(f"l:{h}", "piracy", h) for h in hosts])
    for url in ("https://wild.example/", "https://a.b.wild.example/x", "https://ad.example/",
                "https://cdn.ad.example/x"):
        assert index.match(url), url
    assert not index.match("https://notwild.example/")


# A host normalisation that is its own fixpoint, for odd input too.
@given(st.text(alphabet=st.sampled_from(list("aß.%:@[]0x7fΣς\u200d。ｅ-_ 9İ")), max_size=30))
def test_host_normalisation_is_idempotent_on_odd_hosts(host):
    once = normalize_host(host)
    assert normalize_host(once) == once


# Differential check against ada-url (WHATWG URL parser in C++), the reference: wherever
# it accepts an http(s) URL, our host is its host (then lower-cased without trailing dot).
_URL_PARTS = ["https://", "http://", "HTTP://", "https:", "https:\\\\", "https:///", "user@",
              "u:p@", "@", "a.example", "EXAMPLE.com", "faß.de", "xn--fa-hia.de", "ex%61mple",
              "%zz", "%C3%9F", ":", ":80", ":99999", "[", "]", "[::1]", "[2001:db8::1]", ".",
              "/", "\\", "?", "#", "0x7f", "255", "1.2.3.4", "\t", "\n", " ", "é", "ß", "。",
              "-", "_", "☃", "\u200d", "βόλος", "ΒΌΛΟΣ", "ශ්‍රී", "İ", "\u0301", "ﬀ", "１", "0x"]


@given(st.lists(st.sampled_from(_URL_PARTS), min_size=2, max_size=9))
def test_hosts_agree_with_the_whatwg_reference_parser(parts):
    ada_url = pytest.importorskip("ada_url")
    url = "".join(parts)
    try:
        reference = ada_url.parse_url(url, attributes=("protocol", "hostname"))
    except ValueError:
        return  # the browser refuses the URL; ours is lenient by design (PARSED_HOSTS)
    if reference["protocol"] in ("http:", "https:"):
        assert split_url(url).host == normalize_host(reference["hostname"]), url
