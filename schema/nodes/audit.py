"""`node(id)` of an audit event: the district's write audit, for its district administrators
(as `Query.auditEvents`)."""

from __future__ import annotations

from sqlalchemy import text

from app.models import Role
from app.relations import Viewer
from schema.audit.types import AuditEvent
from schema.context import Info

_EVENT = text("SELECT e.* FROM audit_event e WHERE e.id = :id AND e.district_id = :district")


async def audit_event(info: Info, viewer: Viewer, pk: int) -> AuditEvent | None:
    if not viewer.role_schools(Role.DISTRICT_ADMIN)[1]:
        return None
    async with info.context.db() as connection:
        row = (await connection.execute(_EVENT, {"id": pk, "district": viewer.district_id})).first()
    return AuditEvent.from_row(row) if row else None
