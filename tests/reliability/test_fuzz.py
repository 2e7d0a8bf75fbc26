"""Property and fuzz tests: parsers of web input never raise, and keep their invariants.

Budget: the `ci` hypothesis profile (200 examples a test) runs in `make test`;
`make fuzz` (HYPOTHESIS_PROFILE=long) runs 20,000 a test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import string
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearcrawl.core.domainlist import parse_domain_list
from clearcrawl.core.minhash import (
    nfkc_lower_utf8,
    normalized_bytes,
    normalized_text_sha256,
    word_count,
    word_hashes,
)
from clearcrawl.core.robots import MAX_ROBOTS_BYTES, RobotsTxt, is_allowed, path_params_query
from clearcrawl.core.tdmrep import match_site_file, reservation_value, resolve
from clearcrawl.core.urls import (
    normalize_host,
    normalize_path,
    normalize_url,
    registered_domain,
    split_url,
)
from clearcrawl.io.warc import RecordFailure, WarcRecord, iter_records
from clearcrawl.io.warcwrite import gzip_member, http_response, warc_record

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

AGENTS = st.sampled_from(["GPTBot", "CCBot", "*", "Googlebot", "", "AI2Bot", "weird agent"])
URLS = st.one_of(st.text(max_size=200),
                 st.builds(lambda p: "https://example.com/" + p, st.text(max_size=100)))
ROBOTS_LINES = st.one_of(
    st.builds(lambda a: f"User-agent: {a}", st.sampled_from(["*", "GPTBot", "CCBot", "x y"])),
    st.builds(lambda p: f"Disallow: {p}", st.text(alphabet=string.printable, max_size=30)),
    st.builds(lambda p: f"Allow: {p}", st.text(alphabet=string.printable, max_size=30)),
    st.text(max_size=60))


@given(st.binary(max_size=4096), AGENTS, URLS)
def test_robots_never_raises_on_arbitrary_bytes(body, agent, url):
    assert isinstance(RobotsTxt(body).allowed(agent, url), bool)
    assert isinstance(is_allowed(body, agent or "x", url), bool)


@given(st.lists(ROBOTS_LINES, max_size=40), AGENTS, URLS)
def test_robots_never_raises_on_line_soup(lines, agent, url):
    assert isinstance(RobotsTxt("\n".join(lines)).allowed(agent, url), bool)


UNKNOWN_LINE = st.from_regex(r"\A(Crawl-delay|Host|Foo|X-Thing|#[a-z ]*): ?[a-z0-9/ ]{0,20}\Z")


@given(st.lists(UNKNOWN_LINE, max_size=30), AGENTS, URLS)
def test_robots_with_only_unknown_lines_allows_everything(lines, agent, url):
    assert RobotsTxt("\n".join(lines)).allowed(agent, url) is True


@given(st.binary(min_size=0, max_size=64), AGENTS)
def test_robots_reads_at_most_its_bound(tail, agent):
    # A disallow past the parse bound is never seen.
    body = b"User-agent: *\n" + b"#" * MAX_ROBOTS_BYTES + b"\nDisallow: /\n" + tail
    assert RobotsTxt(body).allowed(agent or "x", "https://example.com/page") is True


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10),
                                                                       children, max_size=4),
    max_leaves=20)


@given(JSON_VALUES)
def test_tdmrep_value_is_zero_one_or_unset(raw):
    assert reservation_value(raw) in (None, 0, 1)


@given(st.lists(JSON_VALUES | st.fixed_dictionaries({
    "location": st.text(max_size=20), "tdm-reservation": JSON_VALUES}), max_size=8), URLS,
    st.one_of(st.none(), st.text(max_size=5)), st.one_of(st.none(), st.text(max_size=5)))
def test_tdmrep_site_file_and_precedence_never_raise(rules, url, header, meta):
    found = match_site_file(rules, normalize_path(path_params_query(url)))
    final = resolve(found, [header] if header is not None else [], None,
                    [meta] if meta is not None else [], None)
    assert final is None or final.reservation in (0, 1)
    if reservation_value(meta) is not None:  # meta always wins when set
        assert final.carrier == "html-meta"


@given(st.text(max_size=300))
def test_host_normalisation_is_total_and_idempotent(host):
    once = normalize_host(host)
    assert normalize_host(once) == once
    assert isinstance(registered_domain(once), str)


@given(URLS)
def test_urls_never_raise(url):
    split_url(url)
    assert isinstance(normalize_url(url), str)


@given(st.text(max_size=2000))
def test_domain_lists_never_raise(text):
    hosts, problems = parse_domain_list(text)
    assert all(isinstance(h, str) and h for h in hosts)
    assert all(line >= 1 for line, _ in problems)


def _check_records(data: bytes) -> None:
    items = list(iter_records(io.BytesIO(data), max_record_bytes=1 << 16))
    offsets = []
    for item in items:
        assert isinstance(item, WarcRecord | RecordFailure)
        assert 0 <= item.offset <= len(data)
        if isinstance(item, RecordFailure):
            assert item.error_kind and item.message
        offsets.append((item.offset, item.ordinal))
    assert len(offsets) == len(set(offsets))  # one row per place in the file, never twice


@given(st.binary(max_size=4096))
def test_warc_reader_never_raises_on_arbitrary_bytes(data):
    _check_records(data)
    _check_records(gzip.compress(data))


_GOOD = b"".join(gzip_member(warc_record("response", http_response(f"<p>page {i}</p>".encode()),
                                         target_uri=f"https://a.example/{i}"))
                 for i in range(4))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(st.integers(0, len(_GOOD) - 1), st.integers(0, 255)), max_size=12),
       st.integers(0, len(_GOOD)))
def test_warc_reader_survives_flips_and_cuts_of_a_real_shard(flips, cut):
    data = bytearray(_GOOD)
    for at, value in flips:
        data[at] = value
    _check_records(bytes(data[:cut]))
    _check_records(bytes(data))


# Text the fingerprint lower-cases piecewise: every script, and the characters whose
# lower case is longer (U+0130) or depends on context (capital sigma).
# Combining marks after ASCII letters (compose in NFKC), compatibility forms (ﬁ, ①, ²,
# full-width), Hangul jamo and canonical reordering of stacked marks.
NFKC_TRAPS = st.text(alphabet="ae o\u0301\u0308\u0323\u0338<=\ufb01\u2460\u00b2\uff21"
                              "\u1100\u1161\u11a8\u00e9\u212b", max_size=60)
LOWER_CASE_TRAPS = st.text(alphabet="aBZ ©\u2019\u00c9\u00e9\u0130\u03a3\u03c3\u03c2\u01c5\u1e9e",
                           max_size=120)


@given(st.text(max_size=400) | LOWER_CASE_TRAPS | NFKC_TRAPS)
def test_piecewise_normalisation_equals_nfkc_then_lower(text):
    expected = unicodedata.normalize("NFKC", text).lower()
    assert nfkc_lower_utf8(text).tobytes() == expected.encode("utf-8", "surrogatepass")


# Unicode punctuation, symbols and spaces that end a word, by code point (the code under
# test finds them by their UTF-8 lead and second bytes).
WORD_BREAKS = ((0x00A0, 0x00BF),  # no-break space, guillemets, inverted marks
               (0x2000, 0x207F),  # spaces, dashes, quotes, bullets, ellipsis
               (0x2180, 0x2BFF),  # arrows, maths and technical symbols, boxes
               (0x3000, 0x303F),  # ideographic space and punctuation
               (0xFF00, 0xFF3F))  # full-width punctuation (and A-Z)
# The word hash's multipliers of successive 8-byte chunks (2^64 / golden ratio, xxHash64's
# PRIME64_2 and PRIME64_3, and one more odd constant), written out, not imported.
CHUNK_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                     0xD6E8FEB86659FD93)


def _reference_word_flags(raw: bytes) -> list[bool]:
    """Which normalised bytes belong to words, spelt out character by character: ASCII
    letters and digits, and every other non-ASCII character but the word breaks."""
    flags: list[bool] = []
    for char in raw.decode("utf-8", "surrogatepass"):
        point = ord(char)
        if point < 128:
            in_word = "a" <= char <= "z" or "0" <= char <= "9"
        else:
            in_word = not any(low <= point <= high for low, high in WORD_BREAKS)
        flags += [in_word] * len(char.encode("utf-8", "surrogatepass"))
    return flags


def _reference_word_hashes(text: str) -> list[int]:
    """The word hash spelt out in plain Python, one word at a time."""
    multipliers = CHUNK_MULTIPLIERS
    mask = (1 << 64) - 1
    raw = normalized_bytes(text)[0].tobytes()
    flags = _reference_word_flags(raw)
    out, i = [], 0
    while i < len(raw):
        if not flags[i]:
            i += 1
            continue
        start = i
        while i < len(raw) and flags[i]:
            i += 1
        word = raw[start:i]
        h = (int.from_bytes(word[:8], "little") * multipliers[0] + len(word)) & mask
        for offset in range(8, len(word), 8):
            folded = (h * multipliers[(offset // 8) % 4]
                      + int.from_bytes(word[offset:offset + 8], "little")) & mask
            h = ((folded << 27) | (folded >> 37)) & mask
        for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            h = ((h ^ (h >> shift)) * factor) & mask  # splitmix64's finaliser
        out.append(h ^ (h >> 31))
    return out


WORDY_TEXT = st.text(alphabet="ab Cd\u00e9\u2019 9\u00a0\u2014\u3000", min_size=1, max_size=200)


@given(st.text(max_size=300) | WORDY_TEXT)
def test_compiled_word_hashes_equal_the_plain_definition(text):
    expected = _reference_word_hashes(text)
    assert word_hashes(text).tolist() == expected
    assert word_count(text) == len(expected)


@given(st.text(max_size=300) | WORDY_TEXT)
def test_normalised_text_hash_is_the_words_joined_by_spaces(text):
    raw = normalized_bytes(text)[0].tobytes()
    flags = _reference_word_flags(raw)
    words, current = [], bytearray()
    for byte, flag in zip(raw, flags):
        if flag:
            current.append(byte)
        elif current:
            words.append(bytes(current))
            current = bytearray()
    if current:
        words.append(bytes(current))
    assert normalized_text_sha256(text) == hashlib.sha256(b" ".join(words)).hexdigest()
