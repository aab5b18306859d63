"""`Query.auditEvents`: the write audit of the district, for district administrators."""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry

from app import investigation
from schema.access.queries import _admin_schools, time_range, user_pk
from schema.audit.types import AuditEvent
from schema.context import Info
from schema.cursors import Cursors
from schema.errors import Forbidden
from schema.relay import Connection, build_connection, from_global_id, page_size


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="For district administrators: the district's audit of writes, newest "
        "first. Filter by actor (`actorId`, a StaffMember or Guardian id), action, target "
        "(`targetType`, or `targetId` as given by an event), and time (`from` inclusive, `to` "
        "exclusive); every filter narrows."
    )
    async def audit_events(
        self,
        info: Info,
        first: int | None = 100,
        after: str | None = None,
        actor_id: strawberry.ID | None = None,
        action: str | None = None,
        target_type: str | None = None,
        target_id: strawberry.ID | None = None,
        from_: Annotated[datetime.datetime | None, strawberry.argument(name="from")] = None,
        to: datetime.datetime | None = None,
    ) -> Connection[AuditEvent] | None:
        context = info.context
        viewer = await context.require_viewer()
        # The audit names targets of every kind (users, roles, grants), not only students of
        # a school: it is the district's, so only a district administrator reads it.
        if await _admin_schools(context) is not None:
            raise Forbidden("only district administrators read the district's audit")
        size = page_size(first, context.settings.max_page_size)
        cursors = Cursors.of(context, "auditEvents", "NEWEST", viewer)
        key = cursors.open(after, len(investigation.AUDIT_ORDER.columns))
        target_pk = None
        if target_id is not None:
            # An event's `targetId` carries its type: the two filters must agree.
            target_type, target_pk = from_global_id(target_id, target_type)
        since, until = time_range(from_, to)
        flt = investigation.AuditFilter(
            actor_id=user_pk(actor_id) if actor_id else None,
            action=action,
            target_type=target_type,
            target_id=target_pk,
            since=since,
            until=until,
        )
        async with context.db() as connection:
            rows = await investigation.list_audit_events(
                connection=connection,
                district_id=viewer.district_id,
                flt=flt,
                first=size,
                after=key,
            )

        async def count() -> int:
            async with context.db() as connection:
                return await investigation.count_audit_events(
                    connection=connection, district_id=viewer.district_id, flt=flt
                )

        return build_connection(
            [AuditEvent.from_row(r) for r in rows],
            first=size,
            after=key,
            cursor=lambda e: cursors.seal((from_global_id(e.id)[1],)),
            count=count,
        )
