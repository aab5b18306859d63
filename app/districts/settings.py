"""A district's privacy settings: read, validated, changed and audited.

```python
row = await settings.read(connection, district_id=1)
row = await settings.update(connection, actor, district_id=1, changes={"data_request_days": 30})
```

The settings are the district's, not a person's: the audit event carries their before and after
values in its details.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.writes import Actor, WriteRefused

# (column, GraphQL name): the settings, in the order they are shown.
FIELDS = (
    ("data_request_days", "dataRequestDays"),
    ("contract_ends_on", "contractEndsOn"),
    ("subscription_ends_on", "subscriptionEndsOn"),
    ("consent_notice_days", "consentNoticeDays"),
    ("require_mfa", "requireMfa"),
)
COLUMNS = tuple(column for column, _ in FIELDS)
# FERPA 34 CFR 99.10: 45 days at most; a district may promise fewer.
REQUEST_DAYS = (1, 45)
NOTICE_DAYS = (0, 365)
_DATES = (datetime.date(2000, 1, 1), datetime.date(2999, 12, 31))
_SELECT = "SELECT id, name, " + ", ".join(COLUMNS) + " FROM district"  # noqa: S608 (constants)


async def read(connection: AsyncConnection, *, district_id: int) -> Row[Any]:
    row = (await connection.execute(text(_SELECT + " WHERE id = :id"), {"id": district_id})).first()
    if row is None:
        raise WriteRefused("no such district", "NOT_FOUND", "districtId")
    return row


def validate(changes: dict[str, Any]) -> None:
    """Refuse a value out of range (the first one found); `changes` maps columns to values."""
    names = dict(FIELDS)
    for column, (low, high) in (
        ("data_request_days", REQUEST_DAYS),
        ("consent_notice_days", NOTICE_DAYS),
    ):
        value = changes.get(column)
        if column in changes and (value is None or not low <= value <= high):
            raise WriteRefused(
                f"{names[column]} is a number of days from {low} to {high}",
                "OUT_OF_RANGE",
                names[column],
            )
    for column in ("contract_ends_on", "subscription_ends_on"):
        value = changes.get(column)
        if value is not None and not _DATES[0] <= value <= _DATES[1]:
            raise WriteRefused(
                f"{names[column]} is a date from {_DATES[0]} to {_DATES[1]}, or null",
                "OUT_OF_RANGE",
                names[column],
            )
    if "require_mfa" in changes and not isinstance(changes["require_mfa"], bool):
        raise WriteRefused("requireMfa is true or false", "INVALID", "requireMfa")
    unknown = set(changes) - set(COLUMNS)
    if unknown:
        raise WriteRefused(f"unknown settings: {', '.join(sorted(unknown))}", "INVALID")


def plain(row: Row[Any]) -> dict[str, Any]:
    """The settings of a `read()` row as JSON-ready values, keyed by GraphQL name."""
    return {
        name: value.isoformat() if isinstance(value, datetime.date) else value
        for name, value in ((name, getattr(row, column)) for column, name in FIELDS)
    }


async def audit(
    connection: AsyncConnection,
    actor: Actor | None,
    action: str,
    target: tuple[str, int],
    details: dict[str, Any],
    *,
    district_id: int,
) -> None:
    """The audit event of a district-level change, by an account (`actor`) or, from the command
    line, by the operating-system user named in `details["by"]` (no account: actor NULL)."""
    if actor is not None:
        await writes.audit(connection, actor, action, target[0], target[1], details)
        return
    await connection.execute(
        text(
            "INSERT INTO audit_event (district_id, actor_user_id, action, target_type, target_id,"
            " details) VALUES (:district_id, NULL, :action, :target_type, :target_id,"
            " CAST(:details AS jsonb))"
        ),
        {
            "district_id": district_id,
            "action": action,
            "target_type": target[0],
            "target_id": target[1],
            "details": json.dumps(details, default=str, sort_keys=True),
        },
    )


async def update(
    connection: AsyncConnection,
    actor: Actor | None,
    *,
    district_id: int,
    changes: dict[str, Any],
    by: str | None = None,
) -> Row[Any]:
    """Apply `changes` (columns to values) to the district's settings; audited with before and
    after. `actor`: the account; None from the command line, where `by` names who ran it."""
    validate(changes)
    before = await read(connection, district_id=district_id)
    if not changes:
        return before
    assignments = ", ".join(f"{column} = :{column}" for column in COLUMNS if column in changes)
    after = (
        await connection.execute(
            text(f"UPDATE district SET {assignments} WHERE id = :id RETURNING id"),  # noqa: S608
            {"id": district_id, **changes},
        )
    ).one()
    after = await read(connection, district_id=after.id)
    details: dict[str, Any] = {"before": plain(before), "after": plain(after)}
    if by is not None:
        details["by"] = by
    await audit(
        connection,
        actor,
        "update_district_settings",
        ("District", district_id),
        details,
        district_id=district_id,
    )
    return after
