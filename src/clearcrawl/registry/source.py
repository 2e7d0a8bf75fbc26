"""Load and validate a registry source folder (the files a rights holder edits).

Layout (a contract, see ARCHITECTURE.md):
  registry.toml      name, version, [policy], [[sources]]
  domains/*.csv      entry_id,kind,pattern,rights_holder,added,source,note
  works/*.jsonl      {"entry_id", "kind", "title", "rights_holder", "text"}
  robots/<host>.txt  tdmrep/<host>.json  aitxt/<host>.txt
  agents.json        ai.robots.txt's robots.json format
  synced/            copies of remote [[sources]] stored by `registry sync`

Every problem is collected as `file:line: message` so one run of `registry
validate` reports them all; a registry with any problem is never loaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from clearcrawl.core.domainlist import parse_domain_list
from clearcrawl.core.domains import RULE_KINDS, DomainRule, host_syntax_error, normalize_pattern
from clearcrawl.core.minhash import MinHashParams, word_count
from clearcrawl.core.policy import DEFAULT_ROBOTS_AGENTS, Policy
from clearcrawl.core.urls import normalize_host
from clearcrawl.core.works import MIN_WORK_WORDS

CSV_COLUMNS = ["entry_id", "kind", "pattern", "rights_holder", "added", "source", "note"]
WORK_FIELDS = {"entry_id", "kind", "title", "rights_holder", "text"}
TOP_LEVEL_KEYS = {"name", "version", "policy", "matching", "sources"}
MATCHING_KEYS = {"num_perm", "shingle_size", "seed"}
POLICY_KEYS = {"robots_agents", "robots_current", "noarchive_is_optout", "near_duplicate_threshold",
               "robots_unreachable_is_optout"}
SOURCE_KEYS = {"name", "url", "format", "kind", "sha256", "insecure", "note"}
SOURCE_FORMATS = ("csv", "domains", "robots-json")
SYNCED_DIR = "synced"
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class RemoteSource:
    name: str
    url: str
    format: str
    kind: str | None = None
    sha256: str | None = None
    insecure: bool = False

    def synced_path(self, root: Path) -> Path:
        suffix = {"csv": ".csv", "domains": ".txt", "robots-json": ".json"}[self.format]
        return root / SYNCED_DIR / f"{self.name}{suffix}"


@dataclass
class RegistrySource:
    root: Path
    name: str = ""
    version: str = ""
    policy: Policy = field(default_factory=Policy)
    matching: MinHashParams = field(default_factory=MinHashParams)
    sources: list[RemoteSource] = field(default_factory=list)
    domain_rules: list[DomainRule] = field(default_factory=list)
    works: list[dict] = field(default_factory=list)
    robots: dict[str, str] = field(default_factory=dict)
    tdmrep: dict[str, list] = field(default_factory=dict)
    aitxt: dict[str, str] = field(default_factory=dict)
    agents: dict[str, dict] = field(default_factory=dict)
    synced: list[dict] = field(default_factory=list)  # which remote lists were present
    problems: list[Problem] = field(default_factory=list)
    # Lines of remote lists that were skipped: web input is parsed leniently.
    warnings: list[Problem] = field(default_factory=list)

    def problem(self, path: Path | str, line: int, message: str) -> None:
        rel = path.relative_to(self.root).as_posix() if isinstance(path, Path) else path
        self.problems.append(Problem(rel, line, message))


def is_source_folder(path: str | Path) -> bool:
    return (Path(path) / "registry.toml").is_file()


def load_source(root: str | Path) -> RegistrySource:
    """Read every file of the folder; problems are collected, not raised."""
    reg = RegistrySource(Path(root))
    if not (reg.root / "registry.toml").is_file():
        reg.problem("registry.toml", 0, f"no registry.toml in {reg.root}")
        return reg
    _load_toml(reg)
    seen_ids: dict[str, str] = {}
    for path in sorted((reg.root / "domains").glob("*.csv")):
        parse_domains_csv(reg, path, path.read_bytes(), seen_ids, source_name="")
    for path in sorted((reg.root / "works").glob("*.jsonl")):
        _load_works(reg, path, seen_ids)
    _load_host_files(reg, "robots", ".txt", reg.robots, _read_text)
    _load_host_files(reg, "tdmrep", ".json", reg.tdmrep, _read_tdmrep)
    _load_host_files(reg, "aitxt", ".txt", reg.aitxt, _read_text)
    agents_path = reg.root / "agents.json"
    if agents_path.is_file():
        reg.agents.update(parse_agents(reg, agents_path, agents_path.read_bytes()))
    for source in reg.sources:
        _load_synced(reg, source, seen_ids)
    return reg


# -- registry.toml ------------------------------------------------------------

def _line_of(text: str, needle: str, start: int = 0) -> int:
    for number, line in enumerate(text.splitlines()[start:], start=start + 1):
        if line.strip().startswith(needle):
            return number
    return 1


def _load_toml(reg: RegistrySource) -> None:
    path = reg.root / "registry.toml"
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        reg.problem(path, int(match.group(1)) if match else 1, f"invalid TOML: {exc}")
        return
    for key in sorted(set(data) - TOP_LEVEL_KEYS):
        reg.problem(path, _line_of(text, key), f"unknown key {key!r} (expected one of "
                    f"{', '.join(sorted(TOP_LEVEL_KEYS))})")
    reg.name = str(data.get("name", ""))
    reg.version = str(data.get("version", ""))
    if not reg.name:
        reg.problem(path, 1, "missing key 'name' (a short name for this registry)")
    policy = data.get("policy", {})
    if not isinstance(policy, dict):
        reg.problem(path, _line_of(text, "policy"), "'policy' must be a table: [policy]")
        policy = {}
    reg.policy = _parse_policy(reg, path, text, policy)
    matching = data.get("matching", {})
    if not isinstance(matching, dict):
        reg.problem(path, _line_of(text, "matching"), "'matching' must be a table: [matching]")
        matching = {}
    reg.matching = _parse_matching(reg, path, text, matching)
    sources = data.get("sources", [])
    if not isinstance(sources, list):
        reg.problem(path, _line_of(text, "sources"), "'sources' must be an array: [[sources]]")
        sources = []
    names: set[str] = set()
    for index, entry in enumerate(sources):
        line = _nth_line(text, "[[sources]]", index)
        source = _parse_source(reg, path, line, entry)
        if source and source.name in names:
            reg.problem(path, line, f"duplicate source name {source.name!r}")
        elif source:
            names.add(source.name)
            reg.sources.append(source)


def _nth_line(text: str, needle: str, index: int) -> int:
    count = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == needle:
            count += 1
            if count == index:
                return number
    return 1


def _parse_policy(reg: RegistrySource, path: Path, text: str, data: dict) -> Policy:
    start = _line_of(text, "[policy]") - 1
    for key in sorted(set(data) - POLICY_KEYS):
        reg.problem(path, _line_of(text, key, start), f"unknown policy key {key!r} (expected "
                    f"one of {', '.join(sorted(POLICY_KEYS))})")
    agents = data.get("robots_agents", list(DEFAULT_ROBOTS_AGENTS))
    if not isinstance(agents, list) or not all(isinstance(a, str) and a.strip() for a in agents):
        reg.problem(path, _line_of(text, "robots_agents", start),
                    "robots_agents must be a list of agent tokens, e.g. [\"GPTBot\", \"CCBot\"]")
        agents = list(DEFAULT_ROBOTS_AGENTS)
    # RFC 9309 tokens are letters, '_' and '-'; real ones also carry digits (AI2Bot).
    bad_tokens = [a for a in agents if not re.fullmatch(r"[A-Za-z0-9_-]+|\*", a.strip())]
    if bad_tokens:
        reg.problem(path, _line_of(text, "robots_agents", start),
                    f"robots_agents has invalid product tokens {bad_tokens} "
                    "(letters, digits, '_' and '-' only)")
    for key in ("robots_current", "noarchive_is_optout", "robots_unreachable_is_optout"):
        if key in data and not isinstance(data[key], bool):
            reg.problem(path, _line_of(text, key, start), f"{key} must be true or false")
    threshold = data.get("near_duplicate_threshold", 0.8)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
            0 < threshold <= 1):
        reg.problem(path, _line_of(text, "near_duplicate_threshold", start),
                    "near_duplicate_threshold must be a number in (0, 1], e.g. 0.8")
        threshold = 0.8
    return Policy(
        robots_agents=tuple(a.strip() for a in agents),
        robots_current=data.get("robots_current", True) is True,
        noarchive_is_optout=data.get("noarchive_is_optout", False) is True,
        near_duplicate_threshold=float(threshold),
        robots_unreachable_is_optout=data.get("robots_unreachable_is_optout", False) is True,
    )


def _parse_matching(reg: RegistrySource, path: Path, text: str, data: dict) -> MinHashParams:
    """[matching]: MinHash parameters of the works' fingerprints (fixed at build time)."""
    start = _line_of(text, "[matching]") - 1
    for key in sorted(set(data) - MATCHING_KEYS):
        reg.problem(path, _line_of(text, key, start), f"unknown matching key {key!r} (expected "
                    f"one of {', '.join(sorted(MATCHING_KEYS))})")
    defaults = MinHashParams()
    limits = {"num_perm": (16, 1024), "shingle_size": (1, 16), "seed": (0, 2**63 - 1)}
    values = {}
    for key, (low, high) in limits.items():
        value = data.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            reg.problem(path, _line_of(text, key, start),
                        f"{key} must be an integer from {low} to {high}")
            value = getattr(defaults, key)
        values[key] = value
    return MinHashParams(**values)


def _parse_source(reg: RegistrySource, path: Path, line: int, entry) -> RemoteSource | None:
    if not isinstance(entry, dict):
        reg.problem(path, line, "each [[sources]] entry must be a table")
        return None
    ok = True
    for key in sorted(set(entry) - SOURCE_KEYS):
        reg.problem(path, line, f"unknown source key {key!r} (expected one of "
                    f"{', '.join(sorted(SOURCE_KEYS))})")
        ok = False
    url = entry.get("url")
    insecure = entry.get("insecure", False) is True
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        reg.problem(path, line, "source needs url = \"https://...\"")
        return None
    if url.startswith("http://") and not insecure:
        reg.problem(path, line, f"{url}: plain http is refused; use https or set insecure = true")
        ok = False
    fmt = entry.get("format")
    if fmt not in SOURCE_FORMATS:
        reg.problem(path, line, f"format must be one of {', '.join(SOURCE_FORMATS)}, got {fmt!r}")
        return None
    kind = entry.get("kind")
    if fmt == "domains" and kind not in RULE_KINDS:
        reg.problem(path, line, f"a 'domains' source needs kind = \"optout\" or \"piracy\", "
                    f"got {kind!r}")
        ok = False
    digest = entry.get("sha256")
    if digest is not None and not (isinstance(digest, str) and _SHA256.match(digest)):
        reg.problem(path, line, "sha256 must be 64 hex digits (the digest of the body)")
        ok = False
    name = entry.get("name") or _name_from_url(url)
    if not _NAME.match(name):
        reg.problem(path, line, f"source name {name!r} must be lower-case letters, digits, - or _")
        ok = False
    if not ok:
        return None
    return RemoteSource(name, url, fmt, kind, digest.lower() if digest else None, insecure)


def _name_from_url(url: str) -> str:
    tail = [p for p in url.split("://", 1)[-1].split("/")[1:] if p][-2:]
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(tail).lower()).strip("-")
    return slug[:64] or "source"


# -- domain rules and works ----------------------------------------------------

def parse_domains_csv(reg: RegistrySource, path: Path | str, body: bytes, seen_ids: dict,
                      source_name: str) -> None:
    text = body.decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != CSV_COLUMNS:
        reg.problem(path, 1, f"header must be exactly: {','.join(CSV_COLUMNS)}")
        return
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CSV_COLUMNS):
            reg.problem(path, number, f"expected {len(CSV_COLUMNS)} columns, got {len(row)}")
            continue
        entry_id, kind, pattern, holder, added, source, _note = (c.strip() for c in row)
        errors = []
        if not _ENTRY_ID.match(entry_id):
            errors.append(f"invalid entry_id {entry_id!r} (letters, digits, . _ : / -)")
        elif entry_id in seen_ids:
            errors.append(f"duplicate entry_id {entry_id!r} (first in {seen_ids[entry_id]})")
        if kind not in RULE_KINDS:
            errors.append(f"unknown kind {kind!r} (expected optout or piracy)")
        normalized, pattern_error = normalize_pattern(pattern)
        if pattern_error:
            errors.append(f"bad pattern: {pattern_error}")
        if added:
            try:
                dt.date.fromisoformat(added)
            except ValueError:
                errors.append(f"added must be a date YYYY-MM-DD, got {added!r}")
        for message in errors:
            reg.problem(path, number, message)
        if not errors:
            where = path if isinstance(path, str) else path.relative_to(reg.root).as_posix()
            seen_ids[entry_id] = f"{where}:{number}"
            reg.domain_rules.append(DomainRule(entry_id, kind, normalized, holder,
                                               source or source_name))


def work_text_problem(text: str) -> str | None:
    """Why a work's text cannot be registered (too short to match as content), or None."""
    if word_count(text) < MIN_WORK_WORDS:
        return (f"text too short to match as content: at least {MIN_WORK_WORDS} "
                "words (register short items as URL or domain rules)")
    return None


def _load_works(reg: RegistrySource, path: Path, seen_ids: dict) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            reg.problem(path, number, f"invalid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            reg.problem(path, number, "each line must be a JSON object")
            continue
        errors = [f"unknown field {k!r}" for k in sorted(set(obj) - WORK_FIELDS)]
        entry_id = obj.get("entry_id")
        if not isinstance(entry_id, str) or not _ENTRY_ID.match(entry_id):
            errors.append(f"invalid entry_id {entry_id!r}")
        elif entry_id in seen_ids:
            errors.append(f"duplicate entry_id {entry_id!r} (first in {seen_ids[entry_id]})")
        if obj.get("kind") not in RULE_KINDS:
            errors.append(f"unknown kind {obj.get('kind')!r} (expected optout or piracy)")
        if not isinstance(obj.get("text"), str) or not obj["text"].strip():
            errors.append("missing field 'text' (the work's full text)")
        elif problem := work_text_problem(obj["text"]):
            errors.append(problem)
        for key in ("title", "rights_holder"):
            if key in obj and not isinstance(obj[key], str):
                errors.append(f"{key} must be a string")
        for message in errors:
            reg.problem(path, number, message)
        if not errors:
            seen_ids[entry_id] = f"{path.relative_to(reg.root).as_posix()}:{number}"
            reg.works.append({"entry_id": entry_id, "kind": obj["kind"],
                              "title": obj.get("title", ""),
                              "rights_holder": obj.get("rights_holder", ""),
                              "text": obj["text"]})


# -- per-host files and agents ---------------------------------------------------

def _read_text(reg: RegistrySource, path: Path, body: bytes):
    return body.decode("utf-8", errors="replace")


def _read_tdmrep(reg: RegistrySource, path: Path, body: bytes):
    try:
        rules = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        reg.problem(path, getattr(exc, "lineno", 1), f"invalid JSON: {exc}")
        return None
    if not isinstance(rules, list):
        reg.problem(path, 1, "tdmrep.json must be a JSON array of {location, tdm-reservation}")
        return None
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("location"), str):
            reg.problem(path, 1, f"rule {index} needs a string 'location'")
            return None
    return rules


def _load_host_files(reg: RegistrySource, folder: str, suffix: str, target: dict, reader) -> None:
    for path in sorted((reg.root / folder).glob(f"*{suffix}")):
        host = normalize_host(path.name[: -len(suffix)])
        error = host_syntax_error(host)
        if error:
            reg.problem(path, 0, f"file name must be a host, e.g. example.com{suffix}: {error}")
            continue
        value = reader(reg, path, path.read_bytes())
        if value is not None:
            target[host] = value


def parse_agents(reg: RegistrySource, path: Path | str, body: bytes) -> dict:
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        reg.problem(path, getattr(exc, "lineno", 1), f"invalid JSON: {exc}")
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        reg.problem(path, 1, "agents must be a JSON object of {token: {operator, function, ...}}")
        return {}
    return data


def _load_synced(reg: RegistrySource, source: RemoteSource, seen_ids: dict) -> None:
    path = source.synced_path(reg.root)
    if not path.is_file():
        return  # declared but never synced: nothing to load yet
    body = path.read_bytes()
    reg.synced.append({"name": source.name, "url": source.url, "format": source.format,
                       "kind": source.kind, "sha256": hashlib.sha256(body).hexdigest()})
    if source.format == "csv":
        parse_domains_csv(reg, path, body, seen_ids, source_name=source.name)
    elif source.format == "robots-json":
        reg.agents.update(parse_agents(reg, path, body))
    else:
        hosts, problems = parse_domain_list(body.decode("utf-8", errors="replace"))
        rel = path.relative_to(reg.root).as_posix()
        reg.warnings.extend(Problem(rel, number, f"not a host rule, skipped: {message}")
                            for number, message in problems)
        for host in hosts:
            reg.domain_rules.append(DomainRule(f"{source.name}:{host}", source.kind, host, "",
                                               source.name))
