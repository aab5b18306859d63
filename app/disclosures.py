"""The record of disclosures (FERPA 34 CFR 99.32): batched per request, hash-chained per district.

A request collects what it released in a `Batch`; `write` appends the whole batch with one INSERT
in the request's own transaction, under a per-district advisory lock so the chain has one order.
Each row's `hash` is SHA-256 over its content and the previous row's hash, so `verify` finds the
first row that was edited, inserted out of band or deleted. The table itself refuses UPDATE,
DELETE and TRUNCATE (migration 0002).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from app.relations import Grant, Viewer

# Key of pg_advisory_xact_lock(int, int): (this constant, district id).
_LOCK_NAMESPACE = 99_32


@dataclass
class _Entry:
    classes: set[str] = field(default_factory=set)
    purpose: str | None = None


@dataclass
class Batch:
    """What one request disclosed: (student, basis, grant) → field classes."""

    entries: dict[tuple[int, str, int | None], _Entry] = field(default_factory=dict)

    def add(self, student_id: int, field_class: str, basis: str, grant: Grant | None) -> None:
        key = (student_id, basis, grant.id if grant else None)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry(purpose=grant.purpose if grant else None)
        entry.classes.add(field_class)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __iter__(self) -> Iterator[tuple[int, str, int | None, str | None, list[str]]]:
        for (student_id, basis, grant_id), entry in sorted(
            self.entries.items(), key=lambda kv: (kv[0][0], kv[0][1])
        ):
            yield student_id, basis, grant_id, entry.purpose, sorted(entry.classes)


def row_hash(row: dict[str, Any], prev_hash: str | None) -> str:
    """SHA-256 over a disclosure's content and its predecessor's hash."""
    content = {
        "district_id": row["district_id"],
        "student_id": row["student_id"],
        "viewer_user_id": row["viewer_user_id"],
        "basis": row["basis"],
        "grant_id": row["grant_id"],
        "purpose": row["purpose"],
        "field_classes": list(row["field_classes"]),
        "request_id": row["request_id"],
        "disclosed_at": row["disclosed_at"].astimezone(UTC).isoformat(),
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


_LOCK = text("SELECT pg_advisory_xact_lock(:ns, :district_id)")
# Read after the lock is held: in READ COMMITTED each statement sees what committed before it.
_HEAD = text(
    "SELECT hash FROM disclosure WHERE district_id = :district_id ORDER BY id DESC LIMIT 1"
)
_INSERT = text(
    """
    INSERT INTO disclosure (district_id, student_id, viewer_user_id, basis, grant_id, purpose,
                            field_classes, request_id, disclosed_at, prev_hash, hash)
    SELECT :district_id, u.student_id, :viewer_user_id, u.basis, u.grant_id, u.purpose,
           string_to_array(u.classes, ','), :request_id, :disclosed_at, u.prev_hash, u.hash
    FROM unnest(CAST(:students AS BIGINT[]), CAST(:bases AS TEXT[]), CAST(:grants AS BIGINT[]),
                CAST(:purposes AS TEXT[]), CAST(:classes AS TEXT[]), CAST(:prevs AS TEXT[]),
                CAST(:hashes AS TEXT[]))
         WITH ORDINALITY AS u(student_id, basis, grant_id, purpose, classes, prev_hash, hash, n)
    ORDER BY u.n
    """
)


async def write(
    connection: AsyncConnection, batch: Batch, *, viewer: Viewer, request_id: str
) -> int:
    """Append the batch to the district's chain; returns the number of rows written."""
    district_id = viewer.district_id
    await connection.execute(_LOCK, {"ns": _LOCK_NAMESPACE, "district_id": district_id})
    prev = (await connection.execute(_HEAD, {"district_id": district_id})).scalar_one_or_none()
    now = datetime.now(UTC)
    columns: dict[str, list[Any]] = {
        k: [] for k in ("students", "bases", "grants", "purposes", "classes", "prevs", "hashes")
    }
    for student_id, basis, grant_id, purpose, classes in batch:
        row = {
            "district_id": district_id,
            "student_id": student_id,
            "viewer_user_id": viewer.user_id,
            "basis": basis,
            "grant_id": grant_id,
            "purpose": purpose,
            "field_classes": classes,
            "request_id": request_id,
            "disclosed_at": now,
        }
        digest = row_hash(row, prev)
        for key, value in (
            ("students", student_id),
            ("bases", basis),
            ("grants", grant_id),
            ("purposes", purpose),
            ("classes", ",".join(classes)),
            ("prevs", prev),
            ("hashes", digest),
        ):
            columns[key].append(value)
        prev = digest
    await connection.execute(
        _INSERT,
        {
            "district_id": district_id,
            "viewer_user_id": viewer.user_id,
            "request_id": request_id,
            "disclosed_at": now,
            **columns,
        },
    )
    return len(columns["students"])


@dataclass(frozen=True)
class BrokenLink:
    district_id: int
    disclosure_id: int
    reason: str


async def _rows(connection: AsyncConnection) -> AsyncIterator[Any]:
    result = await connection.stream(text("SELECT * FROM disclosure ORDER BY district_id, id"))
    async for row in result:
        yield row


async def verify(connection: AsyncConnection) -> tuple[int, BrokenLink | None]:
    """Walk every district's chain; return rows checked and the first broken link, if any."""
    checked = 0
    prev_by_district: dict[int, str | None] = {}
    async for row in _rows(connection):
        checked += 1
        expected_prev = prev_by_district.get(row.district_id)
        if row.prev_hash != expected_prev:
            reason = "a row before it was deleted or the chain was reordered"
            return checked, BrokenLink(row.district_id, row.id, reason)
        if row_hash(row._asdict(), row.prev_hash) != row.hash:
            return checked, BrokenLink(row.district_id, row.id, "its content was changed")
        prev_by_district[row.district_id] = row.hash
    return checked, None
