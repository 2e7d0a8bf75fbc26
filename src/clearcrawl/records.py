"""Frozen dataclasses passed between stages, with the Arrow schemas of the outputs.

Element types of the pipeline:
  Document     one record read from a crawl shard (WARC response, WET conversion,
               JSONL line, Parquet row), with plain text already extracted.
  ReadFailure  one record (or unreadable region) that could not become a Document.
  Evidence     one signal or match that argues for removing a Document.
  LedgerRow    the decision for one record: what the ledger stores.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass, field, fields

import pyarrow as pa


class FastPickle:  # shared by the stage records of clearcrawl.core.crossmatch too
    """Pickle a slots dataclass as a plain tuple of its fields: Beam pickles every element
    between stages, and dataclasses' own __getstate__ costs several times more."""

    __slots__ = ()

    def __reduce__(self):
        return self.__class__, self._VALUES(self)


def fast_pickle(cls):
    """Give a FastPickle dataclass the getter of its fields' values, as a tuple in
    field order: one C call (attrgetter) instead of a Python loop over the fields."""
    names = tuple(f.name for f in fields(cls))
    get = operator.attrgetter(*names)
    cls._VALUES = staticmethod(get if len(names) > 1 else lambda obj: (get(obj),))
    return cls


@fast_pickle
@dataclass(frozen=True, slots=True)
class Document(FastPickle):
    doc_id: str
    url: str
    host: str
    registered_domain: str
    fetch_time: dt.datetime | None
    # (lower-cased HTTP header name, value), one pair per header line in the order sent:
    # a repeated header keeps its boundaries (each value is decided on its own).
    headers: tuple[tuple[str, str], ...]
    http_status: int | None
    content_type: str
    text: str = field(repr=False)  # never in a log line or error message
    text_sha256: str = ""
    text_bytes: int = 0
    source_uri: str = ""
    source_offset: int = 0
    crawl: str | None = None
    # Signal carriers found in the HTML: (lower-cased meta name, content) pairs
    # and rel="license" link targets. Evaluated, never written to data/.
    meta: tuple[tuple[str, str], ...] = ()
    license_links: tuple[str, ...] = ()
    # urls.origin_key(url), the robots.txt scope, computed once with the host.
    origin: str = ""

    def header_values(self, name: str) -> list[str]:
        return header_values(self.headers, name)


def header_values(headers: tuple[tuple[str, str], ...], name: str) -> list[str]:
    """Every value of the (lower-cased) header `name`, one per header line, in order."""
    return [value for key, value in headers if key == name]


@fast_pickle
@dataclass(frozen=True, slots=True)
class ReadFailure(FastPickle):
    doc_id: str
    source_uri: str
    source_offset: int
    error_kind: str
    message: str
    url: str | None = None


@fast_pickle
@dataclass(frozen=True, slots=True)
class Evidence(FastPickle):
    kind: str
    entry_id: str
    detail: str
    score: float | None = None

    def as_row(self) -> dict:
        return {"kind": self.kind, "entry_id": self.entry_id, "detail": self.detail,
                "score": self.score}


@fast_pickle
@dataclass(frozen=True, slots=True)
class PreviousDecision(FastPickle):
    """A document's decision and reasons (ledger row values) in the output a refilter
    starts from."""

    decision: str
    reasons: list[dict]


@fast_pickle
@dataclass(frozen=True, slots=True)
class PreviousRows(FastPickle):
    """A document's rows in the output a refilter starts from, on their way to its
    text: its ledger row, and its signature and error rows (None when absent)."""

    ledger: dict
    signature: dict | None
    error: dict | None


@fast_pickle
@dataclass(frozen=True, slots=True)
class Decided(FastPickle):
    """A document with its direct evidence, before content matching across documents.

    `signature` is its MinHash signature (uint32 little-endian bytes, b"" when not
    computed); `anchors` its anchor keys (uint64 bytes), for the join strategy and refilter.
    """

    doc: Document
    evidence: tuple[Evidence, ...]
    license: str | None
    signature: bytes = b""
    anchors: bytes = b""
    shingle_count: int = 0
    # refilter: the decision and reasons (ledger row values) of the previous output.
    previous: PreviousDecision | None = None


REASON_TYPE = pa.struct([
    ("kind", pa.string()),
    ("entry_id", pa.string()),
    ("detail", pa.string()),
    ("score", pa.float64()),
])
TIMESTAMP = pa.timestamp("us", tz="UTC")

LEDGER_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("url", pa.string()),
    ("registered_domain", pa.string()),
    ("decision", pa.string()),
    ("reasons", pa.list_(REASON_TYPE)),
    ("text_sha256", pa.string()),
    ("text_bytes", pa.int64()),
    ("source_uri", pa.string()),
    ("source_offset", pa.int64()),
    ("fetch_time", TIMESTAMP),
    ("license", pa.string()),
    ("registry_id", pa.string()),
    ("policy_id", pa.string()),
])

DATA_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("url", pa.string()),
    ("text", pa.string()),
    ("registered_domain", pa.string()),
    ("fetch_time", TIMESTAMP),
    ("text_sha256", pa.string()),
    ("source_uri", pa.string()),
    ("source_offset", pa.int64()),
    ("crawl", pa.string()),
    ("license", pa.string()),
    ("registry_id", pa.string()),
])

SIGNATURES_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("signature", pa.binary()),     # uint32 little-endian MinHash values
    ("shingle_count", pa.int32()),
    ("anchors", pa.binary()),       # uint64 little-endian anchor keys (containment search)
])

ERRORS_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("source_uri", pa.string()),
    ("source_offset", pa.int64()),
    ("error_kind", pa.string()),
    ("message", pa.string()),
])

# Each output folder's schema, in the manifest's order.
OUTPUT_SCHEMAS = {"data": DATA_SCHEMA, "ledger": LEDGER_SCHEMA, "errors": ERRORS_SCHEMA,
                  "signatures": SIGNATURES_SCHEMA}

# A refilter's output only: each document whose decision or reasons changed against the
# previous output, and each one a newer robots store allows again but whose text is not
# in the output (it stays removed). In the manifest's order, after the folders above.
CHANGES_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("url", pa.string()),
    ("before", pa.string()),
    ("after", pa.string()),
    ("reasons", pa.list_(pa.string())),  # the kinds of the final reasons, sorted
])
RESTORABLE_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("url", pa.string()),
    ("removed_by", pa.list_(pa.string())),  # the older robots stores' entry ids
])
CHANGE_SCHEMAS = {"changes": CHANGES_SCHEMA, "restorable": RESTORABLE_SCHEMA}

# Every record read, staged before propagation: its ledger row, its text if kept so far
# (null otherwise), its fingerprint, or why it could not be read. Split into ledger,
# data, signatures and errors.
STAGED_SCHEMA = pa.schema([
    *LEDGER_SCHEMA,
    ("text", pa.string()),
    ("crawl", pa.string()),
    ("signature", pa.binary()),
    ("shingle_count", pa.int32()),
    ("anchors", pa.binary()),
    ("error_kind", pa.string()),    # records that could not be read: the dead letter
    ("message", pa.string()),
    ("previous_decision", pa.string()),  # refilter: the previous output's (Decided.previous)
    ("previous_reasons", pa.list_(REASON_TYPE)),
])
