"""The frame every records mutation shares: the viewer, a first refusal decided by the policy
alone, the transaction, and a refusal turned into the payload's `userErrors`. And the scope
checks: a school, a student or a class the viewer may write for.

A target outside the viewer's scope is reported as not found (the mutation is no oracle for other
schools' ids); a target the viewer is related to but the policy does not let them change is a
FORBIDDEN error, as for the other writes (schema/students/mutations.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.admin.records import checks
from app.models import Role
from app.policy import bit
from app.relations import Viewer
from app.writes import WriteRefused
from schema.context import Context, Info
from schema.errors import Forbidden, UserError

_TEACHER_OF = bit(Role.TEACHER, "teacher_of")


class Payload(Protocol):
    def __init__(self, *, user_errors: list[UserError]) -> None: ...


P = TypeVar("P", bound=Payload)
Change = Callable[[Context, Viewer, AsyncConnection], Awaitable[P]]


async def perform(info: Info, obj: str, payload: type[P], change: Change[P]) -> P:
    """Run `change` in the request's transaction for a viewer the policy may let write `obj`."""
    context = info.context
    viewer = await context.require_viewer()
    if not viewer.possible_mask & context.policy.write_mask(obj):
        # Decided before any target is looked up: the answer does not depend on it.
        raise Forbidden(f"you may not change {obj} records", reason="no policy line allows it")
    try:
        async with context.db() as connection:
            return await change(context, viewer, connection)
    except WriteRefused as refusal:
        return payload(user_errors=[UserError.of(refusal)])


def require_school(context: Context, obj: str, school_id: int, field: str = "schoolId") -> None:
    """Refuse a school where the viewer may not write `obj` (as if it did not exist)."""
    if not context.write_hit(obj, school_id=school_id):
        raise WriteRefused("no such school", "NOT_FOUND", field)


def class_hit(context: Context, viewer: Viewer, obj: str, klass: Row[Any]) -> tuple[int, int]:
    """(the viewer's pairs related to the class, those allowed to write `obj` for it): an
    official of its school, and for a class they teach today, `teacher_of`."""
    related = viewer.mask(0, klass.school_id)
    if klass.id in viewer.taught_classes and viewer.has_role(Role.TEACHER):
        related |= _TEACHER_OF
    return related, related & context.policy.write_mask(obj)


async def writable_class(
    context: Context,
    viewer: Viewer,
    connection: AsyncConnection,
    class_pk: int,
    objects: tuple[str, ...],
    field: str = "classId",
) -> Row[Any]:
    """The class, when the viewer may write every one of `objects` for it."""
    try:
        klass = await checks.class_section(
            connection, class_id=class_pk, district_id=viewer.district_id
        )
    except WriteRefused:
        raise WriteRefused("no such class", "NOT_FOUND", field) from None
    for obj in objects:
        related, hit = class_hit(context, viewer, obj, klass)
        if not related:
            raise WriteRefused("no such class", "NOT_FOUND", field)
        if not hit:
            raise Forbidden(f"you may not write {obj} for this class", reason="no policy line")
    return klass
