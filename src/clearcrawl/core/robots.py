"""robots.txt per RFC 9309, matching Google's open-source reference parser.

Where a literal reading of the RFC and the reference parser differ, we follow the
reference parser (both conformance suites encode it): URLs are matched as
given, without decoding percent-escapes; patterns have their non-ASCII bytes
percent-encoded and their escapes upper-cased; `/robots.txt` is not exempt.

    is_allowed(robots_txt, user_agent, url) -> bool

The reference parser expects its caller to pass a URL %-encoded per RFC 3986. The
pipeline does: `normalized_verdict` matches a path normalised by
`urls.normalize_path` against patterns normalised the same way.

Behind it, `RobotsTxt` parses once and answers many lookups: the rules that
apply to an agent are resolved and indexed once per set of groups (robots_rules),
then a URL costs a bisection and the few rules whose literal head prefixes its path.
Parsing looks only at the lines that can be directives (one regex over the body), so
an HTML page served as robots.txt costs next to nothing.

Besides allow/disallow, the parser keeps the lines that carry AI preferences
(`Content-Usage`, Cloudflare's `Content-Signal`) with the group they belong to,
and `License` lines (RSL) as provenance. Only Allow/Disallow lines close a run of
User-agent lines: other lines never split a group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from clearcrawl.core.robots_rules import RuleIndex
from clearcrawl.core.urls import normalize_path

# RFC 9309 2.5 sets a floor (500 KiB), not a ceiling, and the reference parser reads the
# whole body: rules past 500 KiB are the site's too (docs.oracle.com: 853 KB, hermes.com:
# 1.4 MB). Read up to 8 MiB, a bound for memory only; beyond it, content is ignored.
MAX_ROBOTS_BYTES = 8 * 1024 * 1024
# The reference parser truncates longer lines.
MAX_LINE_BYTES = 2083 * 8 - 1

_UTF8_BOM = b"\xef\xbb\xbf"
# A line whose key could name a directive we keep (see _key_type; a superset, the key
# is checked exactly): (key part up to `:` or `#`)(`:` value up to `#`)? The key starts
# the line after blanks, in both `key: value` and `key value` forms. The body is read
# with \r\n and \r made \n (the reference parser's three line ends) and a \n before
# the first line: a leading \n and the lookahead make the regex engine skip other
# lines at C speed (3x faster than `^` with re.M on HTML bodies).
_DIRECTIVE_LINE = re.compile(
    rb"\n[ \t\v\f]*(?=[uUaAdDcClL])((?:user|allow|dis|dia|content-|license)[^:#\n]*)"
    rb"(?::([^#\n]*))?", re.I)
_BLANKS = b" \t\v\f\r\n"
_PATH_CHAR = re.compile(r"[/?;]")
_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
_TOKEN = re.compile(r"[A-Za-z_-]*")
_TOKEN_WITH_DIGITS = re.compile(r"[A-Za-z0-9_-]*")

USER_AGENT, ALLOW, DISALLOW, CONTENT_USAGE, CONTENT_SIGNAL, LICENSE, OTHER = range(7)


def _key_type(key: bytes) -> int:
    """Directive of a key; the reference parser accepts common typos by prefix."""
    kind = _KEY_TYPES.get(key)
    if kind is None:
        kind = _read_key_type(key)
        if len(_KEY_TYPES) < 4096:  # real files spell their keys a few ways
            _KEY_TYPES[key] = kind
    return kind


_KEY_TYPES: dict[bytes, int] = {}


def _read_key_type(key: bytes) -> int:
    k = key.lower()
    if k.startswith((b"user-agent", b"useragent", b"user agent")):
        return USER_AGENT
    if k.startswith(b"allow"):
        return ALLOW
    if k.startswith((b"disallow", b"dissallow", b"dissalow", b"disalow", b"diasllow",
                     b"disallaw")):
        return DISALLOW
    if k == b"content-usage":
        return CONTENT_USAGE
    if k == b"content-signal":
        return CONTENT_SIGNAL
    if k == b"license":
        return LICENSE
    return OTHER


def _key_value(line: bytes) -> tuple[bytes, bytes] | None:
    """`key: value`, or `key value` when exactly two words (a mistake Google accepts)."""
    hash_at = line.find(b"#")
    if hash_at >= 0:
        line = line[:hash_at]
    line = line.strip(_BLANKS)
    sep = line.find(b":")
    if sep < 0:
        return _two_words(line)
    key = line[:sep].strip(_BLANKS)
    if not key:
        return None
    return key, line[sep + 1:].strip(_BLANKS)


def _two_words(line: bytes) -> tuple[bytes, bytes] | None:
    parts = line.split()
    return (parts[0], parts[1]) if len(parts) == 2 else None


def _directives(raw: bytes):
    """(line number, key, value) of every line that may be a directive, as _key_value
    reads it (on the line cut to MAX_LINE_BYTES)."""
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    raw = b"\n" + raw
    number = 0
    counted_to = 0
    for match in _DIRECTIVE_LINE.finditer(raw):
        start = match.start() + 1
        number += raw.count(b"\n", counted_to, start)
        counted_to = start
        if match.end() - start > MAX_LINE_BYTES:  # the cut falls in the key or value
            end = raw.find(b"\n", start)
            parsed = _key_value(raw[start:end if end >= 0 else len(raw)][:MAX_LINE_BYTES])
        else:
            key, value = match.groups()
            parsed = (_two_words(key) if value is None
                      else (key.rstrip(_BLANKS), value.strip(_BLANKS)))
        if parsed is not None:
            yield number, parsed[0], parsed[1]


def escape_pattern(pattern: str) -> str:
    """Percent-encode non-ASCII bytes and upper-case existing escapes, as the reference does."""
    if pattern.isascii() and "%" not in pattern:
        return pattern
    raw = pattern.encode("utf-8", "surrogatepass")
    out = []
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25 and _is_hex(raw[i + 1:i + 3]):
            out.append("%" + raw[i + 1:i + 3].decode().upper())
            i += 3
            continue
        out.append(f"%{byte:02X}" if byte >= 0x80 else chr(byte))
        i += 1
    return "".join(out)


def _is_hex(two: bytes) -> bool:
    return len(two) == 2 and all(c in b"0123456789abcdefABCDEF" for c in two)


def path_params_query(url: str) -> str:
    """Path, params and query of a URL, without scheme, authority or fragment; "/" at least."""
    if url.startswith("https://"):  # what the general case below gives, sooner
        protocol_end = 8
    elif url.startswith("http://"):
        protocol_end = 7
    else:
        start = 2 if url.startswith("//") else 0
        early_path = _find_path_char(url, start)
        protocol_end = url.find("://", start)
        if protocol_end < 0 or (early_path >= 0 and early_path < protocol_end):
            protocol_end = start
        else:
            protocol_end += 3
    path_start = _find_path_char(url, protocol_end)
    if path_start < 0:
        return "/"
    hash_at = url.find("#")
    if 0 <= hash_at < path_start:
        return "/"
    path = url[path_start:hash_at if hash_at >= 0 else len(url)]
    return path if path.startswith("/") else "/" + path


def _find_path_char(text: str, start: int) -> int:
    found = _PATH_CHAR.search(text, start)
    return found.start() if found else -1


@lru_cache(maxsize=16384)
def _compile(pattern: str):
    """Pattern -> anchored regex: `*` any run, a final `$` the end, all else literal."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(regex + (r"\Z" if anchored else ""), re.DOTALL)


def pattern_matches(path: str, pattern: str) -> bool:
    return _compile(pattern).match(path) is not None


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    kind: int
    value: str  # escaped pattern for allow/disallow, raw text otherwise


@dataclass(frozen=True, slots=True)
class AgentRules:
    """The lines that apply to one agent: its own groups, else the `*` groups.

    `index` holds their allow/disallow rules for lookups (None: there are none):
    the matching rule with the longest pattern decides, allow winning ties. Empty
    patterns (priority 0) never decide and are left out; an allowed
    `/dir/index.html` also allows `/dir/` (reference behaviour).
    """

    rules: tuple[Line, ...]
    specific: bool
    index: RuleIndex | None = None


def _ordered_rules(lines: list[Line], normalized: bool = False) -> tuple:
    """Rules by decreasing priority, for ai.txt, whose type rules interleave with paths."""
    ranked = []
    for line in lines:
        if line.kind not in (ALLOW, DISALLOW) or not line.value:
            continue
        value = normalize_path(line.value, dot_segments=False) if normalized else line.value
        patterns = [value]
        slash = value.rfind("/")
        if line.kind == ALLOW and slash >= 0 and value[slash:].startswith("/index.htm"):
            patterns.append(value[:slash + 1] + "$")
        for pattern in patterns:
            literal = pattern if "*" not in pattern and not pattern.endswith("$") else None
            matcher = None if literal is not None else _compile(pattern).match
            ranked.append((-len(pattern), line.kind != ALLOW, line.number,
                           (literal, matcher, line.kind == ALLOW, line)))
    ranked.sort(key=lambda item: item[:3])
    return tuple(item[3] for item in ranked)


def _rule_index(lines: list[Line], normalized: bool = False) -> RuleIndex | None:
    """The allow/disallow rules indexed for lookups; `normalized`: every pattern in the
    spelling of `urls.normalize_path`, for paths normalised the same way."""
    rules = []
    for line in lines:
        if line.kind not in (ALLOW, DISALLOW) or not line.value:
            continue
        is_allow = line.kind == ALLOW
        value = normalize_path(line.value, dot_segments=False) if normalized else line.value
        rules.append((value, is_allow, line.number, line))
        slash = value.rfind("/")
        if is_allow and slash >= 0 and value[slash:].startswith("/index.htm"):
            rules.append((value[:slash + 1] + "$", True, line.number, line))
    return RuleIndex(rules) if rules else None


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    line: Line | None  # the deciding rule, for evidence


_NO_RULE = Verdict(True, None)


class RobotsTxt:
    """A parsed robots.txt. Build once, then call `allowed(agent, url)` many times."""

    def __init__(self, body: str | bytes, max_bytes: int = MAX_ROBOTS_BYTES):
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        self.truncated = len(raw) > max_bytes
        raw = raw[:max_bytes]
        # Skip a UTF-8 byte order mark, or the part of one the file starts with.
        for size in (3, 2, 1):
            if raw[:size] == _UTF8_BOM[:size]:
                raw = raw[size:]
                break
        self.lines: list[Line] = []
        self.licenses: list[str] = []
        for number, key, raw_value in _directives(raw):
            kind = _key_type(key)
            value = raw_value.decode("utf-8", "surrogateescape")
            if kind in (ALLOW, DISALLOW):
                value = escape_pattern(value)
            elif kind == LICENSE:
                self.licenses.append(value)
                continue
            elif kind == OTHER:
                continue
            self.lines.append(Line(number, kind, value))
        # Most files have neither: their extension lines need no lookup per agent.
        self.has_extension_lines = any(line.kind in (CONTENT_SIGNAL, CONTENT_USAGE)
                                       for line in self.lines)
        self.groups = _groups(self.lines)
        # Keyed by agent, or (agent, True) with token_digits.
        self._agents: dict[str | tuple[str, bool], AgentRules] = {}
        self._tokens: dict[bool, list[tuple[frozenset[str], bool]]] = {}
        # Agents that resolve to the same groups (often `*`) share one index.
        self._indexes: dict[tuple[int, ...], RuleIndex | None] = {}
        # (url, path) of the last lookup: several agents are asked about one URL. One
        # tuple, so that threads sharing this object never see a url with another's path.
        self._last: tuple[str | None, str] = (None, "")
        # Normalised indexes (pipeline lookups) and ordered rules (ai.txt), per agent.
        self._normalized: dict[tuple[str, bool], RuleIndex | None] = {}
        self._normalized_ordered: dict[tuple[str, bool], tuple] = {}

    def rules_for(self, agent: str, token_digits: bool = False) -> AgentRules:
        """The lines of the groups that apply to one agent, as the reference parser picks them.

        The reference parser reads the token of `User-agent: AI2Bot` as `AI`, so an
        agent with digits only ever gets the `*` rules. `token_digits=True` (used by
        the pipeline for policy tokens such as AI2Bot) reads digits as part of the
        token instead, which is what the site owner meant.
        """
        key = (agent, True) if token_digits else agent
        cached = self._agents.get(key)
        if cached is not None:
            return cached
        wanted = agent.lower()
        agents = self._group_agents(token_digits and any(c.isdigit() for c in agent))
        specific = tuple(at for at, (tokens, _) in enumerate(agents) if wanted in tokens)
        # A named group, even one without rules, hides the `*` groups.
        chosen = specific or tuple(at for at, (_, is_global) in enumerate(agents) if is_global)
        lines = [line for at in chosen for line in self.groups[at][1]]
        if chosen not in self._indexes:
            self._indexes[chosen] = _rule_index(lines)
        rules = AgentRules(tuple(lines), bool(specific), self._indexes[chosen])
        self._agents[key] = rules
        return rules

    def _group_agents(self, with_digits: bool) -> list[tuple[frozenset[str], bool]]:
        """(product tokens named, whether `*` is named) of each group, read once per file."""
        found = self._tokens.get(with_digits)
        if found is None:
            found = [(frozenset(_agent_token(value, with_digits) for value in agents
                                if not _is_global(value)),
                      any(_is_global(value) for value in agents))
                     for agents, _ in self.groups]
            self._tokens[with_digits] = found
        return found

    def _decide(self, agent: str, url: str, token_digits: bool) -> tuple[bool, Line] | None:
        """(allowed, deciding line), or None when no rule matches."""
        rules = self._agents.get((agent, True) if token_digits else agent)
        index = (rules or self.rules_for(agent, token_digits)).index
        if index is None:
            return None
        last_url, path = self._last
        if url != last_url:
            path = path_params_query(url)
            if not path.isascii():  # compare bytes, as the reference parser does
                path = path.encode("utf-8", "surrogatepass").decode("latin-1")
            self._last = (url, path)
        return index.decide(path)

    def verdict(self, agent: str, url: str, token_digits: bool = False) -> Verdict:
        decided = self._decide(agent, url, token_digits)
        return _NO_RULE if decided is None else Verdict(*decided)

    def normalized_verdict(self, agent: str, path: str, token_digits: bool = False) -> Verdict:
        """The answer for a path already normalised by `urls.normalize_path`, with every
        pattern normalised the same way: `/%7Eprivate/x`, `/caf%c3%a9/` and `/café/` all
        meet `Disallow: /~private/` and `Disallow: /café/`. This is RFC 3986 equivalence,
        which the reference parser leaves to its caller (robots.h asks for a URL
        %-encoded per RFC 3986); the pipeline decides with it."""
        key = (agent, token_digits)
        if key not in self._normalized:
            self._normalized[key] = _rule_index(list(self.rules_for(agent, token_digits).rules),
                                                True)
        index = self._normalized[key]
        decided = None if index is None else index.decide(path)
        return _NO_RULE if decided is None else Verdict(*decided)

    def normalized_rules(self, agent: str, token_digits: bool = False) -> tuple:
        """The normalised rules by decreasing priority as (literal, matcher, is_allow,
        line), for ai.txt's scan."""
        key = (agent, token_digits)
        ordered = self._normalized_ordered.get(key)
        if ordered is None:
            ordered = _ordered_rules(list(self.rules_for(agent, token_digits).rules), True)
            self._normalized_ordered[key] = ordered
        return ordered

    def allowed(self, agent: str, url: str) -> bool:
        decided = self._decide(agent, url, False)
        return decided is None or decided[0]

    def extension_lines(self, agent: str, kind: int, token_digits: bool = False) -> list[Line]:
        """Content-Usage / Content-Signal lines in the groups that apply to `agent`."""
        return [line for line in self.rules_for(agent, token_digits).rules if line.kind == kind]


def _groups(lines: list[Line]) -> list[tuple[tuple[str, ...], list[Line]]]:
    """(user-agent values, member lines) of each group, as the reference parser forms them.

    Consecutive User-agent lines open one group; only an Allow or Disallow rule
    closes the run of agents, so a following User-agent starts a new group. Other
    lines (Content-Usage, Content-Signal, Sitemap, Crawl-delay, unknown) never do
    (RFC 9309 2.2.4, Google's robots.cc): `User-agent: a / Content-Signal: ... /
    User-agent: b / Disallow: /` is one group for a and b. Lines before the first
    User-agent belong to no group.
    """
    groups: list[tuple[tuple[str, ...], list[Line]]] = []
    agents: list[str] = []
    members: list[Line] = []
    has_rule = False
    for line in lines:
        if line.kind == USER_AGENT:
            if has_rule:
                groups.append((tuple(agents), members))
                agents, members, has_rule = [], [], False
            agents.append(line.value)
        elif agents:
            members.append(line)
            has_rule = has_rule or line.kind in (ALLOW, DISALLOW)
    if agents:
        groups.append((tuple(agents), members))
    return groups


def _is_global(value: str) -> bool:
    return value[:1] == "*" and (len(value) == 1 or value[1].isspace())


def _agent_token(value: str, with_digits: bool) -> str:
    # RFC 9309 product tokens are [A-Za-z_-]; real AI tokens such as AI2Bot also
    # carry digits, so for an agent with digits the digits are part of the token.
    token = (_TOKEN_WITH_DIGITS if with_digits else _TOKEN).match(value).group(0)
    return token.lower()


def is_valid_agent(user_agent: str) -> bool:
    """A product token we can obey: non-empty letters, `_` and `-` (RFC 9309)."""
    return bool(user_agent) and _TOKEN.fullmatch(user_agent) is not None


@lru_cache(maxsize=256)
def _parsed(robots_txt: str | bytes) -> RobotsTxt:
    return RobotsTxt(robots_txt)


def is_allowed(robots_txt: str | bytes, user_agent: str, url: str) -> bool:
    """True if `user_agent` may fetch `url` under `robots_txt` (a 2xx body)."""
    return _parsed(robots_txt).allowed(user_agent, url)


def allowed_for_status(status: int | None, robots_txt: str | bytes, user_agent: str,
                       url: str) -> bool:
    """RFC 9309 2.3.1: 2xx parse; 4xx no restriction; 5xx or unreachable disallow all."""
    if status is None or status >= 500:
        return False
    if 400 <= status < 500:
        return True
    return is_allowed(robots_txt, user_agent, url)
