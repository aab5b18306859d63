"""Staff and the signed-in viewer."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.engine import Row

from schema.relay import Node, to_global_id


@strawberry.type(description="A member of staff: a teacher, coordinator, administrator, ...")
class StaffMember(Node):
    first_name: str
    last_name: str
    email: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> StaffMember:
        return cls(
            id=to_global_id("StaffMember", row.id),
            first_name=row.first_name,
            last_name=row.last_name,
            email=row.email,
        )


@strawberry.type(description="A role the viewer holds, at a school or across the district.")
class RoleGrant:
    role: str
    school_id: strawberry.ID | None
