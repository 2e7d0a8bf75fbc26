"""`clearcrawl registry sync`: fetch the remote [[sources]] of registry.toml, safely.

The one place clearcrawl touches the network, on purpose. Nothing fetched is
trusted: a body is accepted only when it arrives within the time and size
limits, over HTTPS (unless the source says `insecure = true`), matches its
sha256 pin if one is set, and parses in the source's format. Only then does it
replace `synced/<name>.<ext>` atomically; every failure leaves the previous good
copy untouched and names the source. A small cache beside the copies holds the
validators (ETag, Last-Modified) for conditional requests.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from clearcrawl.core.domainlist import parse_domain_list
from clearcrawl.localfiles import write_atomically
from clearcrawl.registry.source import (
    SYNCED_DIR,
    RegistrySource,
    RemoteSource,
    load_source,
    parse_agents,
    parse_domains_csv,
)

CACHE_DIR = ".cache"
USER_AGENT = "clearcrawl-registry-sync/1 (+https://github.com/clearcrawl)"
_RETRY_STATUS = {429, 500, 502, 503, 504}
_REDIRECT_STATUS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class SyncLimits:
    timeout_s: float = 30.0          # connect and per-read timeout
    retries: int = 3                 # extra attempts after the first, for transient failures
    backoff_s: float = 1.0           # first wait; doubles on each retry
    max_bytes: int = 64 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True)
class SyncResult:
    source: str
    status: str                      # "updated" | "not_modified" | "unchanged" | "failed"
    message: str = ""
    sha256: str = ""
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def __str__(self) -> str:
        detail = f" ({self.message})" if self.message else ""
        return f"{self.source}: {self.status}{detail}"


class SyncError(Exception):
    """One source could not be synced; the message says why."""


def sync_registry(root: str | Path, limits: SyncLimits = SyncLimits(),
                  only: list[str] | None = None,
                  session: requests.Session | None = None) -> list[SyncResult]:
    """Sync every remote source of a valid registry folder; one result per source."""
    registry = load_source(root)
    declared_problems = [p for p in registry.problems if p.file == "registry.toml"]
    if declared_problems:
        raise SyncError("; ".join(str(p) for p in declared_problems))
    sources = registry.sources
    if only:
        unknown = sorted(set(only) - {s.name for s in sources})
        if unknown:
            raise SyncError(f"no such source(s) in registry.toml: {', '.join(unknown)}")
        sources = [s for s in sources if s.name in only]
    own_session = session is None
    session = session or requests.Session()
    try:
        return [sync_source(registry.root, source, limits, session) for source in sources]
    finally:
        if own_session:
            session.close()


def sync_source(root: Path, source: RemoteSource, limits: SyncLimits,
                session: requests.Session) -> SyncResult:
    target = source.synced_path(root)
    cache_path = root / SYNCED_DIR / CACHE_DIR / f"{source.name}.json"
    cache = _read_cache(cache_path, target)
    try:
        fetched = _fetch(source, cache, limits, session)
        if fetched is None:
            return SyncResult(source.name, "not_modified", "304, kept the cached copy",
                              cache["sha256"], target.stat().st_size)
        body, validators = fetched
        digest = hashlib.sha256(body).hexdigest()
        if source.sha256 and digest != source.sha256:
            raise SyncError(f"sha256 pin mismatch: got {digest}, registry.toml pins "
                            f"{source.sha256}")
        summary = check_body(source, body)
    except (SyncError, requests.RequestException) as exc:
        return SyncResult(source.name, "failed", _describe(exc))
    previous = target.read_bytes() if target.is_file() else None
    if previous != body:
        write_atomically(target, body)
    write_atomically(cache_path, json.dumps(
        {"url": source.url, "sha256": digest, **validators}, sort_keys=True).encode())
    status = "unchanged" if previous == body else "updated"
    return SyncResult(source.name, status, summary, digest, len(body))


def check_body(source: RemoteSource, body: bytes) -> str:
    """Parse a fetched body in its declared format; raise SyncError if it is not usable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SyncError(f"body is not UTF-8 text (byte {exc.start})") from None
    if source.format == "domains":
        hosts, problems = parse_domain_list(text)
        # An HTML error page served with status 200 parses as mostly bad lines.
        if not hosts or len(problems) > max(10, len(hosts) // 10):
            raise SyncError(f"not a domain list: {len(hosts)} hosts, {len(problems)} bad "
                            f"lines (first: line {problems[0][0]}: {problems[0][1]})"
                            if problems else "not a domain list: no hosts")
        return f"{len(hosts)} domains"
    scratch = RegistrySource(Path("."))
    label = f"{source.name} body"
    if source.format == "csv":
        parse_domains_csv(scratch, label, body, {}, source_name=source.name)
        count = f"{len(scratch.domain_rules)} rules"
    else:
        agents = parse_agents(scratch, label, body)
        if not scratch.problems and not agents:
            scratch.problem(label, 1, "no agents in the catalogue")
        count = f"{len(agents)} agents"
    if scratch.problems:
        more = f" (and {len(scratch.problems) - 1} more)" if len(scratch.problems) > 1 else ""
        raise SyncError(f"invalid {source.format}: {scratch.problems[0]}{more}")
    return count


def _fetch(source: RemoteSource, cache: dict, limits: SyncLimits,
           session: requests.Session) -> tuple[bytes, dict] | None:
    """The body and its validators, or None for 304 Not Modified. Retries transient failures."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if cache.get("etag"):
        headers["If-None-Match"] = cache["etag"]
    if cache.get("last_modified"):
        headers["If-Modified-Since"] = cache["last_modified"]
    last_error: Exception | None = None
    for attempt in range(limits.retries + 1):
        if attempt:
            time.sleep(limits.backoff_s * 2 ** (attempt - 1))
        try:
            return _fetch_once(source, headers, limits, session)
        except _Transient as exc:
            last_error = exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            last_error = exc
    raise SyncError(f"gave up after {limits.retries + 1} attempts: {_describe(last_error)}")


class _Transient(Exception):
    """A failure worth retrying (5xx, 429)."""


def _fetch_once(source: RemoteSource, headers: dict, limits: SyncLimits,
                session: requests.Session) -> tuple[bytes, dict] | None:
    url = source.url
    for _ in range(limits.max_redirects + 1):
        check_scheme(source, url)
        with session.get(url, headers=headers, timeout=limits.timeout_s, stream=True,
                         allow_redirects=False) as response:
            status = response.status_code
            if status in _REDIRECT_STATUS and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            if status == 304:
                if "If-None-Match" not in headers and "If-Modified-Since" not in headers:
                    raise SyncError("304 Not Modified to an unconditional request")
                return None
            if status in _RETRY_STATUS:
                raise _Transient(f"HTTP {status} from {url}")
            if status != 200:
                raise SyncError(f"HTTP {status} from {url}")
            body = _read_capped(response, limits.max_bytes)
            validators = {"etag": response.headers.get("ETag", ""),
                          "last_modified": response.headers.get("Last-Modified", ""),
                          "final_url": url}
            return body, validators
    raise SyncError(f"more than {limits.max_redirects} redirects from {source.url}")


def check_scheme(source: RemoteSource, url: str) -> None:
    """HTTPS only (also after redirects), unless the source opts in to plain http."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and source.insecure):
        return
    raise SyncError(f"refusing {scheme}:// URL {url} (https required; set insecure = true "
                    "on the source to allow http)")


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SyncError(f"body of {int(declared):,} bytes exceeds the {max_bytes:,}-byte cap")
    chunks, size = [], 0
    # iter_content decodes gzip transfer encoding; the cap applies to decoded bytes,
    # so a compressed bomb stops at the cap too.
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > max_bytes:
            raise SyncError(f"body exceeds the {max_bytes:,}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _read_cache(cache_path: Path, target: Path) -> dict:
    """Validators, only if the stored copy is still the one they describe."""
    try:
        cache = json.loads(cache_path.read_text())
        body = target.read_bytes()
    except (OSError, ValueError):
        return {}
    if not isinstance(cache, dict) or cache.get("sha256") != hashlib.sha256(body).hexdigest():
        return {}
    return cache


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out: {exc.__class__.__name__}"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "timed out" in text.lower():
            return "timed out while reading the body"
        return f"connection failed: {text[:200]}"
    return str(exc)
