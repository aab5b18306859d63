"""One recorded roster import, as district administrators read it."""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.scalars import JSON

from schema.context import Info
from schema.relay import to_global_id


@strawberry.type(description="A run of `POST /roster/imports`: who, when, what it did or found.")
class RosterImport:
    id: strawberry.ID
    user_id: strawberry.Private[int | None]
    started_at: datetime.datetime
    finished_at: datetime.datetime
    dry_run: bool
    status: str = strawberry.field(
        description="`applied`, `validated` (a dry run without errors) or `failed` (errors "
        "stopped it; nothing was written)."
    )
    version: str | None = strawberry.field(description="The OneRoster version of the set.")
    counts: JSON = strawberry.field(
        description="Per entity: inserted, updated, ended, unchanged (what a dry run would do)."
    )
    error_count: int
    warning_count: int
    errors: list[str] = strawberry.field(
        description="The first errors, each `file:line: column: message`."
    )
    warnings: list[str] = strawberry.field(
        description="The first warnings, each `file:line: column: message`."
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> RosterImport:
        return cls(
            id=to_global_id("RosterImport", row.id),
            user_id=row.user_id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            dry_run=row.dry_run,
            status=row.status,
            version=row.version,
            counts=row.counts,
            error_count=row.errors_total,
            warning_count=row.warnings_total,
            errors=list(row.errors),
            warnings=list(row.warnings),
        )

    @strawberry.field(description="The login name of who ran it; null if the account is gone.")
    async def username(self, info: Info) -> str | None:
        if self.user_id is None:
            return None
        user = await info.context.loaders.user.load(self.user_id)
        return user.username if user else None
