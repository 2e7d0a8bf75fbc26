from clearcrawl import reasons
from clearcrawl.core.domains import DomainRule, DomainRuleIndex, normalize_pattern
from clearcrawl.core.urls import normalize_host, normalize_url, registered_domain


def _index(*rules):
    built = []
    for entry_id, kind, pattern in rules:
        normalized, error = normalize_pattern(pattern)
        assert error is None, error
        built.append(DomainRule(entry_id, kind, normalized))
    return DomainRuleIndex(built)


def _kinds(index, url):
    return [(e.kind, e.entry_id) for e in index.match(url)]


def test_host_rule_covers_subdomains_and_spellings_but_not_lookalikes():
    index = _index(("o1", "optout", "example.com"))
    assert _kinds(index, "https://a.b.example.com/x") == [(reasons.DOMAIN_OPTOUT, "o1")]
    assert _kinds(index, "http://EXAMPLE.com./page") == [(reasons.DOMAIN_OPTOUT, "o1")]
    assert _kinds(index, "https://example.com:8443/") == [(reasons.DOMAIN_OPTOUT, "o1")]
    assert _kinds(index, "https://user@example.com/") == [(reasons.DOMAIN_OPTOUT, "o1")]
    assert _kinds(index, "https://notexample.com/") == []
    assert _kinds(index, "https://example.com.evil.org/") == []
    assert _kinds(index, "https://example.co/") == []


def test_subdomain_rule_does_not_cover_the_parent():
    index = _index(("o2", "optout", "b.example.com"))
    assert _kinds(index, "https://a.b.example.com/") == [(reasons.DOMAIN_OPTOUT, "o2")]
    assert _kinds(index, "https://example.com/") == []
    assert _kinds(index, "https://c.example.com/") == []


def test_url_prefix_rule_only_under_its_path():
    index = _index(("u1", "optout", "https://example.com/news/"))
    assert _kinds(index, "https://example.com/news/today") == [(reasons.URL_OPTOUT, "u1")]
    assert _kinds(index, "http://EXAMPLE.com/news/a?b=c") == [(reasons.URL_OPTOUT, "u1")]
    assert _kinds(index, "https://example.com/newsletter") == []
    assert _kinds(index, "https://example.com/") == []
    assert _kinds(index, "https://www.example.com/news/today") == []


def test_url_prefix_percent_encoding_is_normalised():
    index = _index(("u2", "optout", "https://example.com/caf%c3%a9/"))
    assert _kinds(index, "https://example.com/café/menu") == [(reasons.URL_OPTOUT, "u2")]
    assert _kinds(index, "https://example.com/caf%C3%A9/menu") == [(reasons.URL_OPTOUT, "u2")]
    tilde = _index(("u3", "optout", "https://example.com/~user/"))
    assert _kinds(tilde, "https://example.com/%7Euser/page") == [(reasons.URL_OPTOUT, "u3")]


def test_piracy_rules_and_idna():
    index = _index(("p1", "piracy", "bücher-kopie.de"), ("p2", "piracy", "https://x.org/dl/"))
    assert _kinds(index, "https://www.xn--bcher-kopie-thb.de/") == [(reasons.PIRACY_DOMAIN, "p1")]
    assert _kinds(index, "https://WWW.BÜCHER-KOPIE.DE/") == [(reasons.PIRACY_DOMAIN, "p1")]
    assert _kinds(index, "https://x.org/dl/file") == [(reasons.PIRACY_DOMAIN, "p2")]


def test_bad_patterns_are_rejected_with_a_reason():
    for bad in ["", "exa mple.com", "com", "-bad-.com", "example.com/path", "ftp://example.com/"]:
        normalized, error = normalize_pattern(bad)
        assert normalized is None and error, bad


def test_normalisation_helpers():
    assert normalize_host("WWW.Example.COM.") == "www.example.com"
    assert normalize_host("[::1]:8080") == "::1"
    assert registered_domain("a.b.example.co.uk") == "example.co.uk"
    assert registered_domain("news.publisher.example") == "publisher.example"
    assert registered_domain("192.0.2.1") == "192.0.2.1"
    assert normalize_url("HTTPS://Example.COM:443/a%7eb#frag") == "https://example.com/a~b"


def test_unparseable_urls_match_nothing():
    index = _index(("o1", "optout", "example.com"))
    for url in ["", "not a url", "http://[bad", "mailto:x@example.com"]:
        assert index.match(url) == []
