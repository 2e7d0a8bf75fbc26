"""The portal's flows, shared by the HTML pages and the JSON API: file a request, read
its status with its token, check proof of control, and an operator's approve / reject.

Each flow validates everything first and raises `Refused` (an HTTP status and a message)
before it changes anything; every change is written to the audit log in the same
transaction.
"""

from __future__ import annotations

import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import case, select
from sqlalchemy.orm import Session, sessionmaker

from clearcrawl.portal import auth, verification
from clearcrawl.portal.effects import OutputFolders
from clearcrawl.portal.models import (
    ACCEPTED,
    EMAIL_MAX,
    KINDS,
    REASON_MAX,
    RECEIVED,
    REJECTED,
    RIGHTS_HOLDER_MAX,
    TITLE_MAX,
    VALUE_MAX,
    OptoutRequest,
    iso,
    utcnow,
)
from clearcrawl.registry.add import BadRequest, add_optout, plan_optout
from clearcrawl.registry.snapshot import InvalidRegistry, Snapshot
from clearcrawl.registry.source import load_source

MAX_WORK_BYTES = 5 * 2**20
_REQUEST_ID = re.compile(r"^[0-9a-f]{16}$")
_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")
# registry.add speaks in CLI flags; the portal names its form fields.
_FIELD_NAMES = {"--domain": "domain", "--url-prefix": "URL prefix",
                "--rights-holder": "rights holder", "--work": "work"}
STATUS_LABELS = {RECEIVED: "received, under review", ACCEPTED: "accepted",
                 REJECTED: "rejected"}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Portal:
    registry: Path
    sessions: sessionmaker
    outputs: OutputFolders
    limits: auth.Limits = field(default_factory=auth.Limits)
    allow_private_verification: bool = False   # tests verify against 127.0.0.1
    registry_lock: threading.Lock = field(default_factory=threading.Lock)


def _field(fields: dict, name: str, limit: int, required: bool = True) -> str:
    value = fields.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Refused(422, f"{name} must be a string")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise Refused(422, f"{name} must not contain control characters")
    value = " ".join(value.split())
    if required and not value:
        raise Refused(422, f"{name} is required")
    if len(value) > limit:
        raise Refused(422, f"{name} is longer than {limit} characters")
    return value


def _work_text(fields: dict) -> str:
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Refused(422, "text (the work, UTF-8) is required for a work")
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_WORK_BYTES:
        raise Refused(413, f"the work is larger than {MAX_WORK_BYTES // 2**20} MB")
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\r\t" for c in text):
        raise Refused(422, "the work must be plain UTF-8 text without control characters")
    return text


def _bad_request(exc: Exception) -> Refused:
    message = str(exc)
    for flag, name in _FIELD_NAMES.items():
        message = message.replace(flag, name)
    return Refused(422, message)


def file_request(db: Session, portal: Portal, fields: dict, address: str
                 ) -> tuple[OptoutRequest, str]:
    """A new request and its secret status token (only its digest is stored)."""
    kind = fields.get("kind")
    if kind not in KINDS:
        raise Refused(422, f"kind must be one of {', '.join(KINDS)}")
    rights_holder = _field(fields, "rights_holder", RIGHTS_HOLDER_MAX)
    contact_name = _field(fields, "contact_name", RIGHTS_HOLDER_MAX, required=False)
    email = _field(fields, "email", EMAIL_MAX)
    if not _EMAIL.match(email):
        raise Refused(422, f"email {email!r} is not an e-mail address")
    title = _field(fields, "title", TITLE_MAX, required=False)
    value, text = "", None
    if kind == "work":
        text = _work_text(fields)
    else:
        value = _field(fields, "value", VALUE_MAX)
    try:  # the registry's own checks, without writing (hosts through its normaliser)
        planned = plan_optout(rights_holder=rights_holder, title=title, work_text=text,
                              domain=value if kind == "domain" else None,
                              url_prefix=value if kind == "url_prefix" else None)
    except BadRequest as exc:
        raise _bad_request(exc) from None
    if auth.too_many(db, ("filed",), address, portal.limits.filed_requests):
        raise Refused(429, "too many requests from your address; try again later")
    token = auth.new_token()
    row = OptoutRequest(
        id=secrets.token_hex(8), kind=kind, value=value, pattern=planned.pattern,
        title=title, text=text.strip() if text else None, text_sha256=planned.text_sha256,
        rights_holder=rights_holder, contact_name=contact_name, email=email,
        token_sha256=auth.digest(token), status=RECEIVED,
        verification_token="clearcrawl-verify-" + secrets.token_hex(16),
        created_at=utcnow(), created_from=address[:64])
    db.add(row)
    auth.record(db, "rights holder", "filed", address, row.id, f"{kind} {value or title}")
    db.commit()
    return row, token


def _request(db: Session, request_id: str) -> OptoutRequest:
    row = db.get(OptoutRequest, request_id) if _REQUEST_ID.match(request_id) else None
    if row is None:
        raise Refused(404, "no such request")
    return row


def for_token(db: Session, request_id: str, token: str | None) -> OptoutRequest:
    """The request, if `token` is its status token: 404 unknown id, 403 wrong token."""
    row = _request(db, request_id)
    if not token or not auth.same(auth.digest(token), row.token_sha256):
        raise Refused(403, "this request's status needs its token (the link in the receipt)")
    return row


def status(portal: Portal, row: OptoutRequest) -> dict:
    """What the rights holder sees: the decision, proof of control, effects on outputs."""
    answer = {"id": row.id, "kind": row.kind, "status": row.status,
              "status_label": STATUS_LABELS[row.status], "rights_holder": row.rights_holder,
              "created_at": iso(row.created_at)}
    answer.update({"value": row.value, "pattern": row.pattern} if row.kind != "work"
                  else {"title": row.title, "text_sha256": row.text_sha256})
    if row.status == ACCEPTED:
        answer.update(entry_id=row.entry_id, registry_id=row.registry_id)
    if row.status == REJECTED:
        answer["reason"] = row.reason
    if row.kind != "work":
        answer["verification"] = {
            "token": row.verification_token,
            "publish_at": verification.candidate_urls(row.kind, row.value, row.pattern),
            "verified": row.verified_at is not None,
            "verified_url": row.verified_url,
            "verified_at": iso(row.verified_at)}
    answer["outputs"] = portal.outputs.effects(row.kind, row.pattern, row.entry_id)
    return answer


def verify(db: Session, portal: Portal, row: OptoutRequest, actor: str,
           address: str) -> verification.Check:
    if row.kind == "work":
        raise Refused(422, "proof of control applies to domains and URL prefixes")
    if row.verified_at is not None:
        return verification.Check(True, row.verified_url or "", "already verified")
    if auth.too_many(db, ("verified", "verify_failed"), address,
                     portal.limits.verification_checks):
        raise Refused(429, "too many verification checks from your address; try later")
    result = verification.check(row.kind, row.value, row.pattern, row.verification_token,
                                portal.allow_private_verification)
    if result.verified:
        row.verified_at, row.verified_url = utcnow(), result.url
    auth.record(db, actor, "verified" if result.verified else "verify_failed", address,
                row.id, result.message[:2000])
    db.commit()
    return result


def _undecided(db: Session, request_id: str) -> OptoutRequest:
    row = _request(db, request_id)
    if row.status != RECEIVED:
        raise Refused(409, f"request {row.id} is already {row.status}")
    return row


def approve(db: Session, portal: Portal, request_id: str, operator: str,
            address: str) -> OptoutRequest:
    """Write the request's registry entry (atomically, validated) and accept it."""
    row = _undecided(db, request_id)
    note = f"portal request {row.id}"
    if row.verified_url:
        note += f"; control verified at {row.verified_url}"
    with portal.registry_lock:
        try:
            receipt = add_optout(
                portal.registry, rights_holder=row.rights_holder, title=row.title,
                domain=row.pattern if row.kind == "domain" else None,
                url_prefix=row.pattern if row.kind == "url_prefix" else None,
                work_text=row.text, note=note, added=row.created_at.date().isoformat(),
                source="portal")
        except (BadRequest, InvalidRegistry) as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            message = "not approved, the registry refuses it: " + "; ".join(
                str(p) for p in problems[:5])
            auth.record(db, f"operator:{operator}", "approve_refused", address, row.id,
                        message)
            db.commit()
            raise Refused(409, message) from None
        registry_id = Snapshot.from_source(load_source(portal.registry)).registry_id
    row.status, row.entry_id, row.registry_id = ACCEPTED, receipt.entry_id, registry_id
    row.decided_at, row.decided_by = utcnow(), operator
    auth.record(db, f"operator:{operator}", "approved", address, row.id,
                f"entry {receipt.entry_id} in {receipt.file}:{receipt.line}"
                + ("" if receipt.created else " (already registered)"))
    db.commit()
    return row


def reject(db: Session, portal: Portal, request_id: str, operator: str, reason,
           address: str) -> OptoutRequest:
    reason = _field({"reason": reason}, "reason", REASON_MAX)
    row = _undecided(db, request_id)
    row.status, row.reason = REJECTED, reason
    row.decided_at, row.decided_by = utcnow(), operator
    auth.record(db, f"operator:{operator}", "rejected", address, row.id, reason)
    db.commit()
    return row


def queue(db: Session, limit: int = 200) -> list[dict]:
    """Undecided requests first (oldest first), then the latest decisions."""
    order = case((OptoutRequest.status == RECEIVED, 0), else_=1)
    rows = db.scalars(select(OptoutRequest).order_by(order, OptoutRequest.created_at,
                                                     OptoutRequest.id).limit(limit))
    return [queue_item(r) for r in rows]


def queue_item(row: OptoutRequest) -> dict:
    item = {"id": row.id, "kind": row.kind, "status": row.status, "value": row.value,
            "pattern": row.pattern, "title": row.title, "rights_holder": row.rights_holder,
            "contact_name": row.contact_name, "email": row.email,
            "created_at": iso(row.created_at), "created_from": row.created_from,
            "verified": row.verified_at is not None, "verified_url": row.verified_url,
            "entry_id": row.entry_id, "registry_id": row.registry_id, "reason": row.reason,
            "decided_by": row.decided_by,
            "decided_at": iso(row.decided_at)}
    if row.kind == "work":
        text = row.text or ""
        item.update(text_sha256=row.text_sha256, text_words=len(text.split()),
                    text_excerpt=text[:400])
    return item


def login(db: Session, portal: Portal, username, password, address: str
          ) -> tuple[str, auth.OperatorSession]:
    """(session cookie, session row); 429 after repeated failures from one address,
    counted before the password is even looked at."""
    if auth.too_many(db, ("login_failed",), address, portal.limits.failed_logins):
        raise Refused(429, "too many failed logins from your address; try again later")
    if not isinstance(username, str) or not isinstance(password, str) or len(password) > 1024:
        raise Refused(422, "username and password must be strings")
    # A name that cannot be an operator's (control characters) is looked up as no one.
    operator = auth.check_password(db, username if username.isprintable() else "", password)
    if operator is None:
        shown = username[:64] if username.isprintable() else repr(username[:32])[1:-1]
        auth.record(db, f"login:{shown}", "login_failed", address)
        db.commit()
        raise Refused(401, "wrong user name or password")
    cookie, row = auth.start_session(db, operator, address)
    auth.record(db, f"operator:{operator.username}", "login", address)
    db.commit()
    return cookie, row


def audit_log(db: Session, limit: int = 500) -> list[dict]:
    events = db.scalars(select(auth.AuditEvent).order_by(auth.AuditEvent.id.desc()).limit(limit))
    return [{"at": iso(e.at), "actor": e.actor, "action": e.action,
             "request_id": e.request_id, "address": e.address, "detail": e.detail}
            for e in events]
