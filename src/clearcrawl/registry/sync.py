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
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

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
RETRY_STATUS = (429, 500, 502, 503, 504)
_REDIRECT_STATUS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class SyncLimits:
    timeout_s: float = 30.0          # per request, and for a source's attempts and waits
    retries: int = 3                 # extra attempts after the first, for transient failures
    backoff_s: float = 1.0           # urllib3's backoff factor: waits 0, 2b, 4b, ... s
    max_bytes: int = 64 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True)
class SyncResult:
    source: str
    status: str                      # "updated" | "not_modified" | "unchanged" | "failed"
    message: str = ""
    sha256: str = ""
    bytes: int = 0
    url: str = ""                    # the source's URL, as registry.toml gives it

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def named(self) -> str:
        """The source by its name and its URL."""
        return f"{self.source} <{self.url}>" if self.url else self.source

    def __str__(self) -> str:
        detail = f" ({self.message})" if self.message else ""
        return f"{self.named}: {self.status}{detail}"


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
    return [sync_source(registry.root, source, limits, session) for source in sources]


def sync_source(root: Path, source: RemoteSource, limits: SyncLimits,
                session: requests.Session | None = None) -> SyncResult:
    """`session`: one to send the requests through (tests); by default a session of
    its own that retries as `limits` say, until `limits.timeout_s` from now."""
    named = SyncResult(source.name, "", url=source.url)
    target = source.synced_path(root)
    cache_path = root / SYNCED_DIR / CACHE_DIR / f"{source.name}.json"
    cache = _read_cache(cache_path, target)
    deadline = time.monotonic() + limits.timeout_s
    own = session is None
    session = session or retrying_session(limits, deadline)
    try:
        fetched = _fetch(source, cache, limits, session, deadline)
        if fetched is None:
            return replace(named, status="not_modified", message="304, kept the cached copy",
                           sha256=cache["sha256"], bytes=target.stat().st_size)
        body, validators = fetched
        digest = hashlib.sha256(body).hexdigest()
        if source.sha256 and digest != source.sha256:
            raise SyncError(f"sha256 pin mismatch: the body of {validators['final_url']} has "
                            f"{digest}, registry.toml pins {source.sha256}")
        summary = check_body(source, body)
    except (SyncError, requests.RequestException) as exc:
        return replace(named, status="failed", message=_describe(exc))
    finally:
        if own:
            session.close()
    previous = target.read_bytes() if target.is_file() else None
    if previous != body:
        write_atomically(target, body)
    write_atomically(cache_path, json.dumps(
        {"url": source.url, "sha256": digest, **validators}, sort_keys=True).encode())
    status = "unchanged" if previous == body else "updated"
    return replace(named, status=status, message=summary, sha256=digest, bytes=len(body))


class DeadlineRetry(Retry):
    """urllib3's Retry that neither waits nor tries again past `deadline` (a
    time.monotonic() value): a Retry-After or backoff that would end after it gives up
    at once, with the last answer."""

    def __init__(self, *args, deadline: float = float("inf"), **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kwargs):
        renewed = super().new(**kwargs)
        renewed.deadline = self.deadline
        return renewed

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        renewed = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = (renewed.get_retry_after(response) if response is not None
                and self.respect_retry_after_header else None)
        wait = renewed.get_backoff_time() if wait is None else wait
        if time.monotonic() + wait >= self.deadline:
            raise MaxRetryError(_pool, url, error or ResponseError(
                f"the next attempt, {wait:g} s from now, would pass the time limit"))
        return renewed


def retrying_session(limits: SyncLimits, deadline: float) -> requests.Session:
    """A session whose GETs retry connection errors, timeouts, 429 and 5xx with
    exponential backoff, wait as long as a Retry-After says, and stop at `deadline`.
    Redirects are not followed here: _fetch_once checks each hop's scheme."""
    retry = DeadlineRetry(total=limits.retries, redirect=False,
                          status_forcelist=RETRY_STATUS, allowed_methods={"GET"},
                          backoff_factor=limits.backoff_s, respect_retry_after_header=True,
                          raise_on_status=False, deadline=deadline)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


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
           session: requests.Session, deadline: float) -> tuple[bytes, dict] | None:
    """The body and its validators, or None for 304 Not Modified."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if cache.get("etag"):
        headers["If-None-Match"] = cache["etag"]
    if cache.get("last_modified"):
        headers["If-Modified-Since"] = cache["last_modified"]
    return _fetch_once(source, headers, limits, session, deadline)


def _fetch_once(source: RemoteSource, headers: dict, limits: SyncLimits,
                session: requests.Session, deadline: float) -> tuple[bytes, dict] | None:
    url = source.url
    for _ in range(limits.max_redirects + 1):
        check_scheme(source, url)
        left = deadline - time.monotonic()
        if left <= 0:
            raise SyncError(f"no time left for {url} (--timeout {limits.timeout_s:g} s)")
        with session.get(url, headers=headers, timeout=min(limits.timeout_s, left),
                         stream=True, allow_redirects=False) as response:
            status = response.status_code
            if status in _REDIRECT_STATUS and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            if status == 304:
                if "If-None-Match" not in headers and "If-Modified-Since" not in headers:
                    raise SyncError(f"304 Not Modified from {url} to an unconditional request")
                return None
            if status != 200:
                raise SyncError(_status_failure(response, url))
            body = _read_capped(response, limits.max_bytes)
            validators = {"etag": response.headers.get("ETag", ""),
                          "last_modified": response.headers.get("Last-Modified", ""),
                          "final_url": url}
            return body, validators
    raise SyncError(f"more than {limits.max_redirects} redirects from {source.url}")


def _status_failure(response: requests.Response, url: str) -> str:
    """`HTTP 404 from URL`; for a status worth retrying, the attempts made and the
    server's Retry-After (a wait past the time limit is not made)."""
    if response.status_code not in RETRY_STATUS:
        return f"HTTP {response.status_code} from {url}"
    retries = getattr(response.raw, "retries", None)
    attempts = len(retries.history) + 1 if retries is not None else 1
    after = response.headers.get("Retry-After")
    return (f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}: HTTP "
            f"{response.status_code} from {url}" + (f", Retry-After {after}" if after else ""))


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
