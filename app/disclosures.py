"""The record of disclosures (FERPA 34 CFR 99.32): one INSERT per request, keyed, no lock.

A request collects what it released in a `Batch`; `write` appends the whole batch with one INSERT
in the request's own transaction, so what was disclosed is on record when the response is sent.
Each row carries `mac`, an HMAC-SHA256 of its content under the audit key (never stored in the
database): a row edited or inserted by anyone without the key does not match. The rows are chained
later, off the request path, by `app.seals`; no request waits for another. The table refuses
UPDATE, DELETE and TRUNCATE (migration 0002).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from app.relations import Grant, Viewer


@dataclass
class _Entry:
    classes: set[str] = field(default_factory=set)
    purpose: str | None = None


@dataclass
class Batch:
    """What one request disclosed: (student, basis, grant) → field classes."""

    entries: dict[tuple[int, str, int | None], _Entry] = field(default_factory=dict)

    def add(
        self,
        student_id: int,
        field_class: str,
        basis: str,
        grant: Grant | None,
        *,
        purpose: str | None = None,
    ) -> None:
        """Record a read of `field_class`; the purpose is the grant's, else `purpose`."""
        key = (student_id, basis, grant.id if grant else None)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry(purpose=grant.purpose if grant else purpose)
        entry.classes.add(field_class)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __iter__(self) -> Iterator[tuple[int, str, int | None, str | None, list[str]]]:
        for (student_id, basis, grant_id), entry in sorted(
            self.entries.items(), key=lambda kv: (kv[0][0], kv[0][1])
        ):
            yield student_id, basis, grant_id, entry.purpose, sorted(entry.classes)


class RowSigner:
    """The MAC of a disclosure's content under a key derived from the audit key.

    What a request's rows share (district, viewer, request, time) is hashed once per request;
    each row then adds its own fields (an HMAC state is copied, not recomputed).

    >>> signer = RowSigner(b"k" * 32)
    >>> request = signer.request(1, 3, "r1", "2026-01-01T00:00:00+00:00")
    >>> len(signer.mac(request, 2, "teacher_of", None, "contact", None))
    64
    """

    def __init__(self, audit_key: bytes) -> None:
        # A key of its own per use, so a row's MAC can never pass for a seal or a checkpoint.
        row_key = hmac.new(audit_key, b"schoolgraph disclosure row v1", hashlib.sha256).digest()
        self._base = hmac.new(row_key, digestmod=hashlib.sha256)

    def request(
        self, district_id: int, viewer_user_id: int, request_id: str, disclosed_at: str
    ) -> Any:
        """The HMAC state after the fields every row of one request shares (`disclosed_at` in
        ISO 8601, UTC)."""
        state = self._base.copy()
        shared = [district_id, viewer_user_id, request_id, disclosed_at]
        state.update(json.dumps(shared, separators=(",", ":")).encode() + b"\n")
        return state

    @staticmethod
    def mac(
        request: Any,
        student_id: int,
        basis: str,
        grant_id: int | None,
        classes: str,
        purpose: str | None,
    ) -> str:
        """`classes` is the comma-joined sorted field classes. The free-text purpose comes last
        and is marked, so no two contents give the same message."""
        state = request.copy()
        marked = b"\x00" if purpose is None else b"=" + purpose.encode()
        state.update(f"{student_id}|{basis}|{grant_id}|{classes}|".encode() + marked)
        return str(state.hexdigest())

    def row_mac(self, row: Any) -> str:
        """The MAC a stored row (a mapping of the table's columns) should carry."""
        at = utc_iso(row["disclosed_at"])
        request = self.request(row["district_id"], row["viewer_user_id"], row["request_id"], at)
        return self.mac(
            request,
            row["student_id"],
            row["basis"],
            row["grant_id"],
            ",".join(row["field_classes"]),
            row["purpose"],
        )


@functools.lru_cache(maxsize=4)
def signer_for(audit_key: bytes) -> RowSigner:
    """The process's signer for a key (built once, not per request)."""
    return RowSigner(audit_key)


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# One statement, no lock and no read: the sequence orders rows, `txn` (a column default, the
# writing transaction's id) tells the sealer when a row can no longer appear behind it.
_INSERT = text(
    """
    INSERT INTO disclosure (district_id, student_id, viewer_user_id, basis, grant_id, purpose,
                            field_classes, request_id, disclosed_at, mac)
    SELECT :district_id, u.student_id, :viewer_user_id, u.basis, u.grant_id, u.purpose,
           string_to_array(u.classes, ','), :request_id, :disclosed_at, u.mac
    FROM unnest(CAST(:students AS BIGINT[]), CAST(:bases AS TEXT[]), CAST(:grants AS BIGINT[]),
                CAST(:purposes AS TEXT[]), CAST(:classes AS TEXT[]), CAST(:macs AS TEXT[]))
         AS u(student_id, basis, grant_id, purpose, classes, mac)
    """
)


async def write(
    connection: AsyncConnection,
    batch: Batch,
    *,
    viewer: Viewer,
    request_id: str,
    signer: RowSigner,
) -> int:
    """Append the batch to the record with one INSERT; returns the number of rows written."""
    district_id = viewer.district_id
    user_id = viewer.user_id
    now = datetime.now(UTC)
    request = signer.request(district_id, user_id, request_id, utc_iso(now))
    mac = signer.mac
    students: list[int] = []
    bases: list[str] = []
    grants: list[int | None] = []
    purposes: list[str | None] = []
    classes: list[str] = []
    macs: list[str] = []
    for student_id, basis, grant_id, purpose, field_classes in batch:
        joined = ",".join(field_classes)
        students.append(student_id)
        bases.append(basis)
        grants.append(grant_id)
        purposes.append(purpose)
        classes.append(joined)
        macs.append(mac(request, student_id, basis, grant_id, joined, purpose))
    await connection.execute(
        _INSERT,
        {
            "district_id": district_id,
            "viewer_user_id": user_id,
            "request_id": request_id,
            "disclosed_at": now,
            "students": students,
            "bases": bases,
            "grants": grants,
            "purposes": purposes,
            "classes": classes,
            "macs": macs,
        },
    )
    return len(students)
