"""Self-service contact corrections: a student or guardian keeps their own email and phone right.

A correction is not an amendment request: the person whose details they are changes them
directly, checked by the same rules (app/rights/validate.py) and audited with before and after
(app/rights/changes.py), the values kept encrypted beside the event.

Under 13, a child giving an email address or phone number is the collection of personal
information COPPA (16 CFR 312.2, "online contact information") puts behind verifiable parental
consent: without consent on file, a student under 13 may remove their contact details but not
supply new ones; a guardian may correct them for the child.

    values = contact.clean({AmendableField.PHONE: "+1 512 555 0199"})
    row = await contact.correct(connection, actor, table="student", row_id=7, values=values)
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.consent.rules import age_on
from app.encryption import decrypt_row, writing_keyring
from app.rights import validate
from app.rights.changes import audit_changes
from app.rights.validate import AmendableField, InvalidChanges, shown
from app.writes import Actor, WriteRefused

ACTION = "update_my_contact"
FIELDS = (AmendableField.EMAIL, AmendableField.PHONE)
COPPA_AGE = 13
# The table a correction writes, and how the audit names its rows.
Table = Literal["app_user", "student"]
_TARGET: Mapping[str, str] = {"app_user": "User", "student": "Student"}


def clean(values: Mapping[AmendableField, str | None]) -> dict[AmendableField, str | None]:
    """`values` as they will be stored, or InvalidChanges (indexes in FIELDS order)."""
    if not values:
        raise WriteRefused("give an email, a phone number or both", "NOTHING_TO_CHANGE")
    cleaned: dict[AmendableField, str | None] = {}
    refusals = []
    for index, field in enumerate(FIELDS):
        if field in values:
            try:
                cleaned[field] = shown(validate.clean(field, values[field]))
            except WriteRefused as refusal:
                refusals.append((index, refusal))
    if refusals:
        raise InvalidChanges(refusals)
    return cleaned


def require_consent_to_collect(
    values: Mapping[AmendableField, str | None],
    *,
    born: datetime.date | None,
    coppa_consent: bool,
    today: datetime.date | None = None,
) -> None:
    """Refuse a student under 13 without parental consent who supplies contact details."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    # An unknown birth date counts as a child's, as everywhere else.
    child = born is None or age_on(born, today) < COPPA_AGE
    if child and not coppa_consent and any(v is not None for v in values.values()):
        raise WriteRefused(
            "a parent must consent before a student under 13 gives an email or phone number"
            " (a guardian can correct them)",
            "COPPA_CONSENT_REQUIRED",
        )


async def correct(
    connection: AsyncConnection,
    actor: Actor,
    *,
    table: Table,
    row_id: int,
    values: Mapping[AmendableField, str | None],
) -> Row[Any]:
    """Store cleaned `values` in the account or student row `row_id`; its email and phone."""
    # `table` is one of two names (Table), the columns those of FIELDS: none from a request.
    select = f"SELECT id, email, phone FROM {table} WHERE id = :id"  # noqa: S608 (Table)
    current = (await connection.execute(text(select + " FOR UPDATE"), {"id": row_id})).one()
    current = await decrypt_row(connection, table, current)
    changed = {
        field.value: (current_value, value)
        for field, value in values.items()
        if (current_value := getattr(current, field.value)) != value
    }
    if changed:
        ring = await writing_keyring(connection)
        params = {
            name: ring.encrypt(table, name, row_id, after) for name, (_, after) in changed.items()
        }
        assignments = ", ".join(f"{name} = :{name}" for name in params)
        update = f"UPDATE {table} SET {assignments} WHERE id = :id"  # noqa: S608 (Table, FIELDS)
        await connection.execute(text(update), {**params, "id": row_id})
    await audit_changes(
        connection,
        actor,
        ACTION,
        _TARGET[table],
        row_id,
        changed,
        student_id=row_id if table == "student" else None,
        user_id=row_id if table == "app_user" else None,
    )
    row = (await connection.execute(text(select), {"id": row_id})).one()
    return await decrypt_row(connection, table, row)
