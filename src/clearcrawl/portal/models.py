"""The portal's tables (SQLAlchemy 2). Times are naive UTC (microseconds kept: they order the queue), the same on SQLite and
PostgreSQL. Secrets (status tokens, session ids) are stored as sha256 digests only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Field limits, checked on input (flows.py) and enforced by the column sizes.
RIGHTS_HOLDER_MAX = 200
EMAIL_MAX = 254
TITLE_MAX = 300
VALUE_MAX = 2048
REASON_MAX = 2000
USERNAME_MAX = 64

RECEIVED, ACCEPTED, REJECTED = "received", "accepted", "rejected"
KINDS = ("domain", "url_prefix", "work")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def iso(moment: dt.datetime | None) -> str | None:
    """How times are shown and answered: ISO 8601 UTC to the second."""
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


class Base(DeclarativeBase):
    pass


class Operator(Base):
    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class OptoutRequest(Base):
    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(VALUE_MAX), default="")  # as typed (domain, URL)
    pattern: Mapped[str] = mapped_column(String(VALUE_MAX), default="")  # normalised rule
    title: Mapped[str] = mapped_column(String(TITLE_MAX), default="")
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # the work
    text_sha256: Mapped[str] = mapped_column(String(64), default="")
    rights_holder: Mapped[str] = mapped_column(String(RIGHTS_HOLDER_MAX))
    contact_name: Mapped[str] = mapped_column(String(RIGHTS_HOLDER_MAX), default="")
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    token_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=RECEIVED, index=True)
    entry_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    registry_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    verification_token: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    verified_url: Mapped[str | None] = mapped_column(String(VALUE_MAX + 64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_from: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(USERNAME_MAX), nullable=True)


class AuditEvent(Base):
    """Every state change: who, when, what, from which address. Rate limits count these."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_action_address_at", "action", "address", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(USERNAME_MAX + 16))
    action: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class OperatorSession(Base):
    __tablename__ = "operator_sessions"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    address: Mapped[str] = mapped_column(String(64), default="")


class Setting(Base):
    """Server-side settings, e.g. the key that signs anonymous CSRF tokens."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
