"""The fast robots.txt parser and rule index give exactly the verdicts of a plain reference.

The reference below is the parser and matcher as they were before the rule index
(issue 19): every line split and read, groups picked per agent, then a scan of every
allow/disallow rule for the longest matching pattern, allow winning ties, the earlier
line winning among equals. Both the verdict and the deciding line must agree, on every
file of the real corpus with the bench's queries (URLs made from each file's own
rules), and on random rule sets with wildcards.
"""

from __future__ import annotations

import importlib
import itertools
import random
import re
import string
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from clearcrawl.core.robots import (
    ALLOW,
    DISALLOW,
    LICENSE,
    MAX_LINE_BYTES,
    MAX_ROBOTS_BYTES,
    OTHER,
    Line,
    RobotsTxt,
    _key_type,
    escape_pattern,
    path_params_query,
)

from ..conftest import REPO

# The bench's agents, one with digits read as part of the token, and one only `*` covers.
AGENTS = (("GPTBot", False), ("CCBot", False), ("Googlebot", False), ("AI2Bot", True),
          ("AI2Bot", False), ("NoSuchBot", False))


# --- the reference: read every line, pick the groups, scan every rule -----------------

def reference_lines(body: bytes) -> tuple[list[Line], list[str]]:
    raw = body[:MAX_ROBOTS_BYTES]
    for size in (3, 2, 1):
        if raw[:size] == b"\xef\xbb\xbf"[:size]:
            raw = raw[size:]
            break
    lines, licenses = [], []
    for number, line in enumerate(re.split(rb"\r\n|\r|\n", raw), start=1):
        line = line[:MAX_LINE_BYTES].split(b"#", 1)[0].strip(b" \t\v\f\r\n")
        key, sep, value = line.partition(b":")
        if not sep:
            words = line.split()
            if len(words) != 2:
                continue
            key, value = words
        key, value = key.strip(b" \t\v\f\r\n"), value.strip(b" \t\v\f\r\n")
        if not key:
            continue
        kind = _key_type(key)
        text = value.decode("utf-8", "surrogateescape")
        if kind == LICENSE:
            licenses.append(text)
        elif kind != OTHER:
            lines.append(Line(number, kind, escape_pattern(text) if kind in (ALLOW, DISALLOW)
                              else text))
    return lines, licenses


def reference_rules(robots: RobotsTxt, agent: str, token_digits: bool) -> list[Line]:
    digits = token_digits and any(c.isdigit() for c in agent)
    token = re.compile(r"[A-Za-z0-9_-]*" if digits else r"[A-Za-z_-]*")

    def is_global(value):
        return value == "*" or (value[:1] == "*" and value[1].isspace())

    specific, global_, named = [], [], False
    for agents, members in robots.groups:
        if any(not is_global(v) and token.match(v).group(0).lower() == agent.lower()
               for v in agents):
            named = True
            specific += members
        elif any(is_global(v) for v in agents):
            global_ += members
    return specific if named else global_


def reference_matches(pattern: str, path: str) -> bool:
    if "*" not in pattern and not pattern.endswith("$"):
        return path.startswith(pattern)
    return _reference_regex(pattern).match(path) is not None


@cache
def _reference_regex(pattern: str) -> re.Pattern:
    """`*` any run, a final `$` the end, all else literal."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(regex + (r"\Z" if anchored else ""), re.DOTALL)


def reference_patterns(rules: list[Line]) -> list[tuple[str, tuple, Line]]:
    """(pattern, rank, line) of every rule: the highest rank that matches decides."""
    patterns = []
    for line in rules:
        if line.kind not in (ALLOW, DISALLOW) or not line.value:
            continue
        extra = []
        slash = line.value.rfind("/")
        if line.kind == ALLOW and slash >= 0 and line.value[slash:].startswith("/index.htm"):
            extra.append(line.value[:slash + 1] + "$")
        for pattern in [line.value, *extra]:
            # Longest pattern, then allow over disallow, then the earlier line.
            patterns.append((pattern, (len(pattern), line.kind == ALLOW, -line.number), line))
    return patterns


def reference_verdict(patterns: list[tuple[str, tuple, Line]], url: str) -> tuple:
    path = path_params_query(url).encode("utf-8", "surrogatepass").decode("latin-1")
    matching = [(rank, line) for pattern, rank, line in patterns
                if reference_matches(pattern, path)]
    if not matching:
        return True, None
    line = max(matching, key=lambda m: m[0])[1]
    return line.kind == ALLOW, line


def assert_same_as_reference(body: bytes, urls: list[str], agents=AGENTS) -> int:
    robots = RobotsTxt(body)
    assert (robots.lines, robots.licenses) == reference_lines(body)
    checked = 0
    expected: dict[tuple, list] = {}  # agents that get the same rules share the reference
    for agent, digits in agents:
        rules = reference_rules(robots, agent, digits)
        assert list(robots.rules_for(agent, digits).rules) == rules
        key = tuple(line.number for line in rules)
        if key not in expected:
            patterns = reference_patterns(rules)
            expected[key] = [reference_verdict(patterns, url) for url in urls]
        for url, (allowed, line) in zip(urls, expected[key]):
            verdict = robots.verdict(agent, url, token_digits=digits)
            assert (verdict.allowed, verdict.line) == (allowed, line), (agent, url)
            if not digits:
                assert robots.allowed(agent, url) is allowed
            checked += 1
    return checked


# --- the real corpus ------------------------------------------------------------------

def test_every_corpus_file_decides_as_the_reference(shared_data, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    bench = importlib.import_module("robots_corpus")
    files = sorted(bench.corpus_folder(shared_data).iterdir())
    assert len(files) == 4231
    rng = random.Random(19)
    checked = disallowed = 0
    for path in files:
        body = path.read_bytes()
        urls = bench.queries_for(path.name, body, rng)
        # The bench fills `*` with "x1"; also fill it with nothing, and ask about the root.
        urls += [url.replace("x1", "") for url in urls[::3]] + [f"https://{path.name}/"]
        checked += assert_same_as_reference(body, urls)
        robots = RobotsTxt(body)
        disallowed += sum(not robots.allowed("GPTBot", url) for url in urls)
    assert checked > 4231 * len(AGENTS) * 10
    assert disallowed > 20000  # the queries do reach the rules


# --- random rule sets: wildcards, `$`, shared prefixes, ties ---------------------------

# A small alphabet, so that patterns share heads, tie in length, and overlap.
_PATTERNS = st.lists(st.sampled_from(["/", "a", "b", "*", "$", "a*a$", "%2f", "é", "/index.htm"]),
                     max_size=6).map("".join)
_KEYS = st.sampled_from(["Allow", "Disallow", "allow", "Disalow"])
_PATHS = st.lists(st.sampled_from(["/", "a", "b", "$", "*", "%2F", "é", "?"]),
                  max_size=7).map(lambda p: "/" + "".join(p))


def _paths_from(patterns: list[str], fill: str) -> list[str]:
    """Paths that a pattern's own text would match (`*` filled, a final `$` dropped), and
    all their prefixes (where pieces overlap the head, or the tail runs out of room)."""
    paths = [pattern.replace("*", fill).removesuffix("$") for pattern in patterns]
    return ["/" + path[1:end] for path in paths for end in range(1, len(path) + 1)]


@given(rules=st.lists(st.tuples(_KEYS, _PATTERNS), max_size=10), paths=st.lists(_PATHS),
       fill=st.sampled_from(["", "a", "/b", "$"]),
       agents_line=st.sampled_from(["User-agent: *", "User-agent: GPTBot",
                                    "User-agent: gptbot\nUser-agent: *"]))
def test_random_rule_sets_decide_as_the_reference(rules, paths, fill, agents_line):
    # Every pattern also appears with the other kind now and then: ties of allow and
    # disallow on one length.
    rules += [("Allow" if key.startswith("D") else "Disallow", value)
              for key, value in rules[::3]]
    body = (agents_line + "\n" + "\n".join(f"{key}: {value}" for key, value in rules)
            + "\nUser-agent: CCBot\n" + "\n".join(f"{k}:{v}" for k, v in rules[::2]))
    paths += _paths_from([value for _, value in rules], fill)
    assert_same_as_reference(body.encode(), [f"https://x.example{p}" for p in paths])


def test_every_small_pattern_matches_as_the_reference():
    """Exhaustive on a small alphabet: pieces that overlap the head, tails with no room."""
    patterns = ["/" + "".join(chars) for size in range(6)
                for chars in itertools.product("ab*$", repeat=size)]
    paths = ["/" + "".join(chars) for size in range(5) for chars in itertools.product("ab", repeat=size)]
    for pattern in patterns:
        for key in ("Disallow", "Allow"):
            body = f"User-agent: *\n{key}: {pattern}\nDisallow: /\n".encode()
            assert_same_as_reference(body, [f"https://x.example{path}" for path in paths],
                                     agents=[("GPTBot", False)])


@given(st.text(alphabet=string.printable + "\x0b\x0cé#:", max_size=300))
def test_any_text_parses_as_the_reference(text):
    body = text.encode("utf-8", "surrogatepass")
    robots = RobotsTxt(body)
    assert (robots.lines, robots.licenses) == reference_lines(body)


def test_long_lines_are_cut_as_the_reference():
    value = "/" + "a" * MAX_LINE_BYTES
    body = (f"User-agent: *\nDisallow: {value}\nDisallow: /b # {'c' * MAX_LINE_BYTES}\n"
            f"{' ' * MAX_LINE_BYTES}Disallow: /hidden\nAllow {value}\n").encode()
    robots = RobotsTxt(body)
    assert (robots.lines, robots.licenses) == reference_lines(body)
    assert [len(line.value) for line in robots.lines[1:]] == [MAX_LINE_BYTES - 10, 2, MAX_LINE_BYTES - 6]
    assert assert_same_as_reference(body, ["https://x/" + "a" * 20000, "https://x/b",
                                           "https://x/hidden"])
