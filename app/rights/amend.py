"""Amendments (FERPA 34 CFR 99.20): proposed values checked when filed, applied when approved.

Filing keeps each proposed value with the value it replaces (`was`), encrypted in
`data_request.changes`. Approving checks every value again, as it will be stored, and applies
them all to the student's record in the resolving transaction, audited with before and after
(app/rights/changes.py). A proposal the record has moved away from since it was filed (the field
changed to something else, a value no longer valid, an identity removed) is refused whole: the
administrator denies it and the requester files again.

    proposal = await amend.propose(connection, student_id=7,
                                   changes=[(AmendableField.PHONE, "+1 512 555 0199")])
    await amend.keep(connection, request_id=12, proposal=proposal)   # with the filed request
    await amend.apply(connection, actor, request_row)                # when an admin completes it
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.encryption import ENCRYPTED, decrypt_row, writing_keyring
from app.rights.changes import audit_changes
from app.rights.validate import COLUMNS, AmendableField, InvalidChanges, clean, shown
from app.writes import Actor, WriteRefused

ACTION = "amend_student_record"
_SELECTED = ", ".join(COLUMNS.values())
_RECORD_SQL = f"SELECT id, user_id, deidentified_at, {_SELECTED} FROM student WHERE id = :id"  # noqa: S608
# The student's login account carries their name too: a corrected name follows to it.
_ACCOUNT_NAMES = ("first_name", "last_name")


@dataclass(frozen=True)
class Change:
    """One proposed value (as stored, text) and the value it replaces, when filed."""

    field: AmendableField
    value: str | None
    was: str | None


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


async def _record(connection: AsyncConnection, student_id: int, *, lock: bool) -> Row[Any]:
    sql = _RECORD_SQL + (" FOR UPDATE" if lock else "")
    row = (await connection.execute(text(sql), {"id": student_id})).one()
    return await decrypt_row(connection, "student", row)


async def propose(
    connection: AsyncConnection,
    *,
    student_id: int,
    changes: Sequence[tuple[AmendableField, str | None]],
    today: datetime.date | None = None,
) -> list[Change]:
    """The proposal `changes` make to the student's record, or WriteRefused / InvalidChanges."""
    if not changes:
        raise WriteRefused(
            "an amendment names at least one field and its proposed value",
            "CHANGES_REQUIRED",
            "changes",
        )
    fields = [field for field, _ in changes]
    if repeated := sorted({f.value for f in fields if fields.count(f) > 1}):
        raise WriteRefused(
            f"each field is proposed once ({', '.join(repeated)} more than once)",
            "DUPLICATE_FIELD",
            "changes",
        )
    record = await _record(connection, student_id, lock=False)
    proposal, refusals = [], []
    for index, (field, value) in enumerate(changes):
        try:
            new = shown(clean(field, value, today=today or _today()))
        except WriteRefused as refusal:
            refusals.append((index, refusal))
            continue
        was = shown(getattr(record, COLUMNS[field]))
        if new == was:
            refusals.append(
                (index, WriteRefused(f"{field.value}: the record already says this", "UNCHANGED"))
            )
        else:
            proposal.append(Change(field, new, was))
    if refusals:
        raise InvalidChanges(refusals)
    return proposal


def _dump(proposal: Sequence[Change]) -> str:
    return json.dumps([{"field": c.field.value, "value": c.value, "was": c.was} for c in proposal])


def load(stored: str | None) -> list[Change]:
    """The proposal kept in `data_request.changes` (decrypted); empty for other requests."""
    if not stored:
        return []
    return [Change(AmendableField(c["field"]), c["value"], c["was"]) for c in json.loads(stored)]


async def keep(
    connection: AsyncConnection, *, request_id: int, proposal: Sequence[Change]
) -> Row[Any]:
    """Store `proposal` with the filed request; the request's row, decrypted."""
    ring = await writing_keyring(connection)
    row = (
        await connection.execute(
            text("UPDATE data_request SET changes = :changes WHERE id = :id RETURNING *"),
            {
                "id": request_id,
                "changes": ring.encrypt("data_request", "changes", request_id, _dump(proposal)),
            },
        )
    ).one()
    return await decrypt_row(connection, "data_request", row)


async def apply(
    connection: AsyncConnection,
    actor: Actor,
    request: Row[Any],
    *,
    today: datetime.date | None = None,
) -> dict[str, tuple[str | None, str | None]]:
    """Apply the amendment `request` proposes to the student's record, all or nothing; what
    changed (field -> (before, after))."""
    proposal = load(request.changes)
    if not proposal:
        # Filed before amendments carried their values: the resolution says what was done.
        return {}
    record = await _record(connection, request.student_id, lock=True)
    if record.deidentified_at is not None:
        raise WriteRefused("the student's record has been de-identified", "DEIDENTIFIED", "id")
    values: dict[str, Any] = {}
    changed: dict[str, tuple[str | None, str | None]] = {}
    for change in proposal:
        try:
            new = clean(change.field, change.value, today=today or _today())
        except WriteRefused as refusal:
            raise WriteRefused(
                f"{refusal} — the proposal is no longer valid: deny the request; the requester"
                " may file a new one",
                refusal.code,
                "id",
            ) from None
        column = COLUMNS[change.field]
        current, after = shown(getattr(record, column)), shown(new)
        if current == after:
            continue  # corrected meanwhile, as proposed
        if current != change.was:
            raise WriteRefused(
                f"{change.field.value} has changed since the request was filed: deny the request;"
                " the requester may file a new one against the record as it is now",
                "CHANGED_SINCE_FILING",
                "id",
            )
        values[column] = new
        changed[change.field.value] = (current, after)
    if values:
        ring = await writing_keyring(connection)
        sealed = ENCRYPTED["student"]
        params = {
            column: ring.encrypt("student", column, record.id, value) if column in sealed else value
            for column, value in values.items()
        }
        assignments = ", ".join(f"{column} = :{column}" for column in params)
        sql = f"UPDATE student SET {assignments} WHERE id = :id"  # noqa: S608 (COLUMNS)
        await connection.execute(text(sql), {**params, "id": record.id})
        names = {c: v for c, v in values.items() if c in _ACCOUNT_NAMES}
        if names and record.user_id is not None:
            assignments = ", ".join(f"{column} = :{column}" for column in names)
            sql = f"UPDATE app_user SET {assignments} WHERE id = :id"  # noqa: S608 (names)
            await connection.execute(text(sql), {**names, "id": record.user_id})
    await audit_changes(
        connection,
        actor,
        ACTION,
        "Student",
        record.id,
        changed,
        student_id=record.id,
        details={"dataRequest": request.id},
    )
    return changed
