"""Rights-holder requests: `clearcrawl registry add-optout`.

A request becomes one validated entry appended to `domains/requests.csv` or
`works/requests.jsonl`. Its entry id is derived from what was requested and by
whom, so it is stable (the receipt stays valid forever) and a repeated request
returns the existing receipt instead of a duplicate entry.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from clearcrawl.core.domains import RULE_KINDS, normalize_pattern
from clearcrawl.localfiles import write_atomically
from clearcrawl.registry.snapshot import InvalidRegistry
from clearcrawl.registry.source import CSV_COLUMNS, load_source, work_text_problem

DOMAIN_REQUESTS = "domains/requests.csv"
WORK_REQUESTS = "works/requests.jsonl"


class BadRequest(ValueError):
    """The request itself is invalid (bad domain, empty work, ...)."""


@dataclass(frozen=True)
class Receipt:
    entry_id: str
    kind: str
    rights_holder: str
    added: str
    file: str
    line: int
    created: bool                     # False when the same request was already registered
    pattern: str = ""
    title: str = ""
    text_sha256: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v != ""}


@dataclass(frozen=True)
class PlannedEntry:
    """The entry a request would add: validated, not yet written anywhere."""

    entry_id: str
    kind: str
    rights_holder: str
    added: str
    file: str                         # DOMAIN_REQUESTS or WORK_REQUESTS
    line: str                         # its CSV row or JSON line
    pattern: str = ""
    title: str = ""
    text_sha256: str = ""


def plan_optout(*, rights_holder: str, kind: str = "optout", domain: str | None = None,
                url_prefix: str | None = None, work_text: str | None = None, title: str = "",
                note: str = "", added: str | None = None,
                source: str = "add-optout") -> PlannedEntry:
    """Validate a request without reading or writing a registry (a preview: the rights-holder
    portal checks requests with it when they are filed); raises BadRequest."""
    if sum(x is not None for x in (domain, url_prefix, work_text)) != 1:
        raise BadRequest("give exactly one of --domain, --url-prefix or --work")
    rights_holder = " ".join(rights_holder.split())
    if not rights_holder:
        raise BadRequest("--rights-holder must name who asks (a person or organisation)")
    if kind not in RULE_KINDS:
        raise BadRequest(f"--kind must be optout or piracy, got {kind!r}")
    added = added or dt.date.today().isoformat()
    try:
        dt.date.fromisoformat(added)
    except ValueError:
        raise BadRequest(f"--date must be YYYY-MM-DD, got {added!r}") from None
    if work_text is None:
        pattern = request_pattern(domain, url_prefix)
        entry_id = _entry_id("req", kind, pattern, rights_holder)
        row = [entry_id, kind, pattern, rights_holder, added, source, _one_line(note)]
        return PlannedEntry(entry_id, kind, rights_holder, added, DOMAIN_REQUESTS,
                            _csv_line(row), pattern=pattern)
    text = work_text.strip()
    if not text:
        raise BadRequest("the work's file holds no text")
    problem = work_text_problem(text)  # the validator's own rule, checked before writing
    if problem:
        raise BadRequest(f"the work's {problem}")
    digest = hashlib.sha256(text.encode()).hexdigest()
    entry_id = _entry_id("req-work", kind, digest, rights_holder)
    title = _one_line(title)
    record = {"entry_id": entry_id, "kind": kind, "title": title,
              "rights_holder": rights_holder, "text": text}
    return PlannedEntry(entry_id, kind, rights_holder, added, WORK_REQUESTS,
                        json.dumps(record, ensure_ascii=False, sort_keys=True),
                        title=title, text_sha256=digest)


def add_optout(root: str | Path, *, rights_holder: str, kind: str = "optout",
               domain: str | None = None, url_prefix: str | None = None,
               work_text: str | None = None, title: str = "", note: str = "",
               added: str | None = None, source: str = "add-optout") -> Receipt:
    """Append one entry to a valid registry folder and return its receipt."""
    root = Path(root)
    entry = plan_optout(rights_holder=rights_holder, kind=kind, domain=domain,
                        url_prefix=url_prefix, work_text=work_text, title=title, note=note,
                        added=added, source=source)
    before = load_source(root)
    backups = {name: (root / name).read_bytes() if (root / name).is_file() else None
               for name in (DOMAIN_REQUESTS, WORK_REQUESTS)}
    if before.problems:
        raise InvalidRegistry([str(p) for p in before.problems])
    entry_id = entry.entry_id
    if entry.file == DOMAIN_REQUESTS:
        already = entry_id in {r.entry_id for r in before.domain_rules}
        line = _append(root / DOMAIN_REQUESTS, entry.line, already,
                       lambda text: text.startswith(entry_id + ","), ",".join(CSV_COLUMNS))
    else:
        already = entry_id in {w["entry_id"] for w in before.works}
        line = _append(root / WORK_REQUESTS, entry.line, already,
                       lambda text: json.dumps(entry_id) in text)
    receipt = Receipt(entry_id, entry.kind, entry.rights_holder, entry.added, entry.file, line,
                      not already, pattern=entry.pattern, title=entry.title,
                      text_sha256=entry.text_sha256)
    after = load_source(root)
    if after.problems:  # a validated request cannot cause this; never leave a broken registry
        for name, body in backups.items():
            if body is None:
                (root / name).unlink(missing_ok=True)
            else:
                write_atomically(root / name, body)
        raise InvalidRegistry([str(p) for p in after.problems])
    return receipt


def request_pattern(domain: str | None, url_prefix: str | None) -> str:
    """The normalised registry pattern of a requested domain or URL prefix (BadRequest)."""
    raw = (domain if domain is not None else url_prefix).strip()
    if domain is not None and ("/" in raw or ":" in raw):
        raise BadRequest(f"--domain takes a host such as example.com, got {raw!r} "
                         "(use --url-prefix for a URL)")
    if url_prefix is not None and not raw.lower().startswith(("http://", "https://")):
        raise BadRequest(f"--url-prefix takes a URL such as https://example.com/news/, "
                         f"got {raw!r}")
    pattern, error = normalize_pattern(raw)
    if error or not pattern:
        raise BadRequest(f"invalid {'domain' if domain is not None else 'URL prefix'} "
                         f"{raw!r}: {error or 'empty'}")
    # The CSV keeps URL prefixes with a scheme (its contract); matching ignores it.
    return pattern if domain is not None else f"{raw.split(':', 1)[0].lower()}://{pattern}"


def _entry_id(prefix: str, kind: str, what: str, holder: str) -> str:
    digest = hashlib.sha256("\0".join((kind, what, holder.casefold())).encode()).hexdigest()
    return f"{prefix}-{digest[:16]}"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _csv_line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def _append(path: Path, entry: str, already: bool, is_entry, header: str = "") -> int:
    """Line number of the entry in `path`: the existing one if `already`, else the line
    appended now (after `header`, if the file is new); the file is rewritten atomically."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = text.splitlines()
    if already:
        return next((n for n, line in enumerate(lines, start=1) if is_entry(line)), 0)
    new = [header, entry] if header and not lines else [entry]
    prefix = text if not text or text.endswith("\n") else text + "\n"
    write_atomically(path, (prefix + "".join(line + "\n" for line in new)).encode())
    return len(lines) + len(new)
