"""Saved report views: definitions kept under a name, shared in the district, audited.

```python
row = await save_report(connection=c, viewer=viewer, name="Readiness", spec=spec, request_id=rid)
spec = spec_of(row)
```
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.keyset import Column, Keyset
from app.relations import Viewer
from app.reports.definitions import ReportSpec
from app.reports.scope import report_scope

MAX_NAME_LENGTH = 120

_SAVED_COLUMNS = "id, district_id, name, definition, created_by, created_at"
SAVED_ORDER = Keyset(Column("name", "name"), Column("id", "id"))


async def saved_reports(
    *, connection: AsyncConnection, district_id: int, first: int, after: tuple[Any, ...] | None
) -> Sequence[Row[Any]]:
    """Up to `first + 1` saved reports of the district, by name, after the sort key `after`."""
    params: dict[str, Any] = {"district_id": district_id, "limit": first + 1}
    where = "district_id = :district_id"
    if after is not None:
        where += f" AND {SAVED_ORDER.after(after, params)}"
    order = SAVED_ORDER.order_by
    sql = f"SELECT {_SAVED_COLUMNS} FROM saved_report WHERE {where} ORDER BY {order} LIMIT :limit"  # noqa: S608 - fixed fragments
    return (await connection.execute(text(sql), params)).all()


async def count_saved_reports(*, connection: AsyncConnection, district_id: int) -> int:
    sql = "SELECT count(*) FROM saved_report WHERE district_id = :district_id"
    return int((await connection.execute(text(sql), {"district_id": district_id})).scalar_one())


async def saved_report(
    *, connection: AsyncConnection, district_id: int, saved_id: int
) -> Row[Any] | None:
    sql = f"SELECT {_SAVED_COLUMNS} FROM saved_report WHERE id = :id AND district_id = :district_id"  # noqa: S608 - fixed fragments
    params = {"id": saved_id, "district_id": district_id}
    return (await connection.execute(text(sql), params)).first()


async def save_report(
    *,
    connection: AsyncConnection,
    viewer: Viewer,
    name: str,
    spec: ReportSpec,
    request_id: str,
) -> Row[Any]:
    """Keep a (validated) definition under a name unique in the district; audited."""
    name = name.strip()
    if not name:
        raise writes.WriteRefused("a saved report needs a name", "INVALID", "name")
    if len(name) > MAX_NAME_LENGTH:
        raise writes.WriteRefused(
            f"the name is at most {MAX_NAME_LENGTH} characters", "INVALID", "name"
        )
    row = (
        await connection.execute(
            text(
                "INSERT INTO saved_report (district_id, name, definition, created_by)"
                " VALUES (:district_id, :name, CAST(:definition AS jsonb), :user_id)"
                " ON CONFLICT ON CONSTRAINT uq_saved_report_name DO NOTHING"
                " RETURNING id, district_id, name, definition, created_by, created_at"
            ),
            {
                "district_id": viewer.district_id,
                "name": name,
                "definition": json.dumps(spec.to_json(), sort_keys=True),
                "user_id": viewer.user_id,
            },
        )
    ).first()
    if row is None:
        raise writes.WriteRefused(
            f"the district already has a saved report named {name!r}", "NAME_TAKEN", "name"
        )
    await writes.audit(
        connection,
        writes.Actor(viewer.user_id, viewer.district_id, request_id),
        "report.saved",
        "saved_report",
        row.id,
        {"name": name, **spec.to_json()},
    )
    return row


async def delete_report(
    *, connection: AsyncConnection, viewer: Viewer, saved_id: int, request_id: str
) -> Row[Any]:
    """Delete a saved report: its author may, and anyone who reports on the whole district."""
    row = await saved_report(
        connection=connection, district_id=viewer.district_id, saved_id=saved_id
    )
    if row is None:
        raise writes.WriteRefused("no such saved report", "NOT_FOUND", "id")
    scope = report_scope(viewer)
    if row.created_by != viewer.user_id and not (scope and scope.whole_district):
        raise writes.WriteRefused(
            "only its author or a district-wide report user may delete a saved report",
            "NOT_ALLOWED",
            "id",
        )
    await connection.execute(text("DELETE FROM saved_report WHERE id = :id"), {"id": saved_id})
    await writes.audit(
        connection,
        writes.Actor(viewer.user_id, viewer.district_id, request_id),
        "report.deleted",
        "saved_report",
        saved_id,
        {"name": row.name, **row.definition},
    )
    return row


def spec_of(row: Row[Any]) -> ReportSpec:
    """The definition of a saved report."""
    return ReportSpec.from_json(row.definition)
