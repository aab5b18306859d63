"""An entry of the write audit, as administrators read it."""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.scalars import JSON

from app.models import Role
from schema.context import Info
from schema.relay import Node, to_global_id


@strawberry.type(description="A personal value a write changed: what it was and what it became.")
class FieldChange:
    field: str = strawberry.field(
        description="The field, as Student names it (`phone`); of an account for a user's own "
        "contact details."
    )
    before: str | None
    after: str | None


@strawberry.type(description="One write (or report run): who did what to which object, when.")
class AuditEvent(Node):
    pk: strawberry.Private[int]
    actor_user_id: strawberry.Private[int | None]
    action: str
    target_type: str | None
    target_id: strawberry.ID | None = strawberry.field(
        description="`targetType` and the key as a global id (a `node` id for node types)."
    )
    details: JSON = strawberry.field(
        description="What changed; `before` and `after` where the write recorded them."
    )
    request_id: str | None
    at: datetime.datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> AuditEvent:
        return cls(
            id=to_global_id("AuditEvent", row.id),
            pk=row.id,
            actor_user_id=row.actor_user_id,
            action=row.action,
            target_type=row.target_type,
            target_id=to_global_id(row.target_type, row.target_id)
            if row.target_type and row.target_id is not None
            else None,
            details=row.details,
            request_id=row.request_id,
            at=row.at,
        )

    @strawberry.field(description="The acting user's login name; null for the system.")
    async def actor_username(self, info: Info) -> str | None:
        user = await self._actor(info)
        return user.username if user else None

    @strawberry.field(description="The acting user's name; null for the system.")
    async def actor_name(self, info: Info) -> str | None:
        user = await self._actor(info)
        return f"{user.first_name} {user.last_name}" if user else None

    async def _actor(self, info: Info) -> Row[Any] | None:
        if self.actor_user_id is None:
            return None
        return await info.context.loaders.user.load(self.actor_user_id)

    @strawberry.field(
        description="The before and after of the personal values the write changed. A student's "
        "field is shown where the viewer may read that field of the student (the read is "
        "recorded like the field's); an account's contact details to district administrators."
    )
    async def changes(self, info: Info) -> list[FieldChange]:
        from schema.students.types import Student

        context = info.context
        viewer = await context.require_viewer()
        rows = await context.loaders.audit_changes.load(self.pk)
        students = {
            row.id: Student.from_row(context, row)
            for row in await context.loaders.student.load_many(
                sorted({r.student_id for r in rows if r.student_id is not None})
            )
            if row is not None
        }
        accounts = viewer.role_schools(Role.DISTRICT_ADMIN)[1]
        shown = []
        for row in rows:
            if row.student_id is None:
                if not accounts:
                    continue
            else:
                student = students.get(row.student_id)
                hit = student.mask & context.decide(f"Student.{row.field}") if student else 0
                if student is None or not hit:
                    continue
                context.record_disclosure(student, f"Student.{row.field}", hit)
            shown.append(FieldChange(field=row.field, before=row.before, after=row.after))
        return shown
