"""Operators' passwords and sessions, CSRF tokens, and per-address rate limits.

- Passwords: Argon2id (OWASP's parameters); an unknown user name costs one hash too,
  so timing does not tell which names exist.
- Sessions: a random id in a Secure, HttpOnly, SameSite=Strict cookie; the database keeps
  its sha256, the operator, its CSRF token and an expiry. Logging out deletes the row.
- CSRF: operators' forms and API calls carry the session's token; anonymous forms (filing,
  login) carry HMAC(key, a random cookie), the signed double-submit pattern.
- Rate limits count the audit log, so they hold across restarts and processes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from clearcrawl.portal.models import (
    USERNAME_MAX,
    AuditEvent,
    Operator,
    OperatorSession,
    Setting,
    utcnow,
)

SESSION_COOKIE = "cc_operator"
ANON_COOKIE = "cc_csrf"
SESSION_HOURS = 8
MIN_PASSWORD = 10
# OWASP's Password Storage Cheat Sheet, first Argon2id setting: 19 MiB, 2 passes, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Limits:
    """Per-address limits: (count, window in seconds)."""

    failed_logins: tuple[int, int] = (5, 900)
    filed_requests: tuple[int, int] = (20, 3600)
    verification_checks: tuple[int, int] = (10, 3600)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def record(db: Session, actor: str, action: str, address: str, request_id: str | None = None,
           detail: str = "") -> None:
    db.add(AuditEvent(at=utcnow(), actor=actor[:80], action=action, request_id=request_id,
                      address=address[:64], detail=detail))


def too_many(db: Session, actions: tuple[str, ...], address: str, limit: tuple[int, int]) -> bool:
    count, seconds = limit
    since = utcnow() - dt.timedelta(seconds=seconds)
    done = db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(actions), AuditEvent.address == address, AuditEvent.at >= since))
    return done >= count


def set_password(db: Session, username: str, password: str) -> bool:
    """Create the operator or replace its password; True when it was created."""
    if not username or len(username) > USERNAME_MAX or not username.isprintable() \
            or username != username.strip():
        raise ValueError(f"user name must be 1 to {USERNAME_MAX} printable characters")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must have at least {MIN_PASSWORD} characters")
    operator = db.scalar(select(Operator).where(Operator.username == username))
    if operator is None:
        db.add(Operator(username=username, password_hash=_hasher.hash(password),
                        created_at=utcnow()))
        return True
    operator.password_hash = _hasher.hash(password)
    db.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator.id))
    return False


def check_password(db: Session, username: str, password: str) -> Operator | None:
    operator = db.scalar(select(Operator).where(Operator.username == username[:USERNAME_MAX]))
    try:
        _hasher.verify(operator.password_hash if operator else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if operator is None:
        return None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    return operator


def start_session(db: Session, operator: Operator, address: str) -> tuple[str, OperatorSession]:
    """(cookie value, session row)."""
    session_id = new_token()
    now = utcnow()
    db.execute(delete(OperatorSession).where(OperatorSession.expires_at <= now))
    row = OperatorSession(id_sha256=digest(session_id), operator_id=operator.id,
                          csrf_token=new_token(), created_at=now,
                          expires_at=now + dt.timedelta(hours=SESSION_HOURS), address=address)
    db.add(row)
    return session_id, row


def find_session(db: Session, cookie: str | None) -> tuple[OperatorSession, Operator] | None:
    if not cookie or len(cookie) > 128:
        return None
    row = db.get(OperatorSession, digest(cookie))
    if row is None or row.expires_at <= utcnow():
        return None
    return row, db.get(Operator, row.operator_id)


def end_session(db: Session, cookie: str | None) -> None:
    if cookie:
        db.execute(delete(OperatorSession).where(OperatorSession.id_sha256 == digest(cookie)))


def secret_key(db: Session) -> str:
    """The key that signs anonymous CSRF tokens, made once and kept in the database."""
    row = db.get(Setting, "csrf_key")
    if row is None:
        row = Setting(key="csrf_key", value=secrets.token_hex(32))
        db.add(row)
        db.commit()
    return row.value


def anonymous_csrf(key: str, cookie: str) -> str:
    return hmac.new(key.encode(), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()
