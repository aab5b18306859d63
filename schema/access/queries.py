"""`Query.myAccess`, `Query.explainAccess`, `Query.legitimateInterestGrants` and the
district-wide `Query.disclosures`."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import text
from sqlalchemy.engine import Row

from app import investigation, reads
from app.consent.rules import coppa_withheld
from app.models import Role
from app.policy import (
    ACCOUNT_OBJECTS,
    CLASS_OBJECTS,
    DISTRICT_OBJECTS,
    FIELD_CLASSES,
    WRITE_OBJECTS,
    CompiledPolicy,
    pairs_of,
)
from app.relations import Viewer, load_viewer
from schema import reveals
from schema.access.types import (
    AccessExplanation,
    FieldAccess,
    LegitimateInterestGrant,
    StudentAccess,
)
from schema.context import Context, Info
from schema.cursors import Cursors
from schema.errors import BadInput, Forbidden
from schema.relay import Connection, build_connection, from_global_id, page_size
from schema.students.types import Disclosure

MAX_GRANTS = 500
_USER_ID_TYPES = ("StaffMember", "Guardian")


def _relations(mask: int) -> list[str]:
    return sorted({relation for _, relation in pairs_of(mask)})


def _field_access(policy: CompiledPolicy, mask: int, name: str) -> FieldAccess:
    obj = f"Student.{name}"
    allowed = bool(mask & policy.mask(obj))
    own = not allowed and bool(mask & policy.mask(f"{obj}@own_classes"))
    return FieldAccess(
        field=name,
        field_class=policy.field_class(obj),
        allowed=allowed or own,
        own_classes_only=own,
    )


def is_admin_of(viewer: Viewer, school_id: int) -> bool:
    _, district_wide = viewer.role_schools(Role.DISTRICT_ADMIN)
    schools, _ = viewer.role_schools(Role.SCHOOL_ADMIN)
    return district_wide or school_id in schools


async def _admin_schools(context: Context) -> frozenset[int] | None:
    """Schools the viewer administers; None for the whole district; Forbidden for non-admins."""
    viewer = await context.require_viewer()
    _, district_wide = viewer.role_schools(Role.DISTRICT_ADMIN)
    if district_wide:
        return None
    schools, _ = viewer.role_schools(Role.SCHOOL_ADMIN)
    if not schools:
        raise Forbidden("only administrators may do this", reason="not an administrator")
    return schools


@strawberry.type
class AccessQuery:
    @strawberry.field(
        description="What the viewer may see and change of a student, field by field, so a UI "
        "can hide the rest; null when the viewer is not related to the student."
    )
    async def my_access(self, info: Info, student_id: strawberry.ID) -> StudentAccess | None:
        context = info.context
        await context.require_viewer()
        _, pk = from_global_id(student_id, "Student")
        row = await context.loaders.student.load(pk)
        if row is None:
            return None
        policy = context.policy
        mask = context.student_mask(row.id, row.school_id)
        # As `Student.portfolio` decides: content collected without COPPA consent is withheld.
        items = policy.mask("PortfolioItem.WITHOUT_CONSENT") if coppa_withheld(row) else -1
        return StudentAccess(
            student_id=student_id,
            relations=_relations(mask),
            fields=[_field_access(policy, mask, name) for name in policy.student_fields()],
            portfolio_visibilities=[
                v
                for v in ("PRIVATE", "TEACHERS", "COORDINATOR")
                if mask & policy.mask(f"PortfolioItem.{v}") & items
            ],
            writes=[
                obj
                for obj in WRITE_OBJECTS
                if obj not in (*DISTRICT_OBJECTS, *CLASS_OBJECTS, *ACCOUNT_OBJECTS)
                and mask & policy.write_mask(obj)
            ],
        )

    @strawberry.field(
        description="For administrators: why a user may or may not read a field of a student "
        "(the relations found and the policy line that matched, or the absence of one). Give "
        "`userId` (a StaffMember or Guardian id) or `username`; neither: the viewer."
    )
    async def explain_access(
        self,
        info: Info,
        student_id: strawberry.ID,
        field: str,
        user_id: strawberry.ID | None = None,
        username: str | None = None,
    ) -> AccessExplanation | None:
        context = info.context
        admin = await context.require_viewer()
        await _admin_schools(context)
        policy = context.policy
        if field not in policy.student_fields():
            raise BadInput(f"{field!r} is not a Student field the policy governs", argument="field")
        _, student_pk = from_global_id(student_id, "Student")
        student = await context.loaders.student.load(student_pk)
        if student is None or not is_admin_of(admin, student.school_id):
            raise BadInput("no such student in your scope", argument="studentId")
        subject = await _subject(context, admin, user_id, username)
        mask = subject.mask(student.id, student.school_id)
        obj = f"Student.{field}"
        hit = mask & (policy.mask(obj) | policy.mask(f"{obj}@own_classes"))
        line = None
        for role, relation in pairs_of(hit):
            line = policy.matching_line(role, relation, obj, "read") or policy.matching_line(
                role, relation, f"{obj}@own_classes", "read"
            )
            if line:
                break
        relations = [f"{role}/{relation}" for role, relation in pairs_of(mask)]
        if hit:
            reason = f"allowed by {line}" if line else "allowed"
        elif not mask:
            reason = "the user has no relation to this student"
        else:
            reason = "no policy line allows " + ", ".join(relations) + f" to read {obj}"
        return AccessExplanation(
            allowed=bool(hit),
            field=field,
            field_class=policy.field_class(obj),
            roles=sorted(f"{r}@{s}" if s else r for r, s in subject.roles),
            relations=relations,
            matched_line=line,
            reason=reason,
        )

    @strawberry.field(
        description="Legitimate-interest grants: those the viewer granted or holds, and for "
        "administrators every grant of their schools. Newest first. Grants archived by "
        "retention (ended long ago) are left out unless `includeArchived`."
    )
    async def legitimate_interest_grants(
        self, info: Info, active_only: bool = True, include_archived: bool = False
    ) -> list[LegitimateInterestGrant]:
        context = info.context
        viewer = await context.require_viewer()
        schools: frozenset[int] | None = frozenset()
        if viewer.has_role(Role.DISTRICT_ADMIN) or viewer.has_role(Role.SCHOOL_ADMIN):
            schools = await _admin_schools(context)
        async with context.db() as connection:
            rows = await reads.list_grants(
                connection=connection,
                district_id=viewer.district_id,
                user_id=viewer.user_id,
                school_ids=schools,
                active_only=active_only,
                include_archived=include_archived,
                limit=MAX_GRANTS,
            )
        return [LegitimateInterestGrant.from_row(r) for r in rows]

    @strawberry.field(
        description="For administrators: the record of disclosures of the students they "
        "administer (the district's for a district administrator, their schools' for a school "
        "administrator), newest first. Filter by student, by reader (`viewerId`), by time "
        "(`from` inclusive, `to` exclusive) and by field class; every filter narrows."
    )
    async def disclosures(
        self,
        info: Info,
        first: int | None = 100,
        after: str | None = None,
        student_id: strawberry.ID | None = None,
        viewer_id: strawberry.ID | None = None,
        from_: Annotated[datetime.datetime | None, strawberry.argument(name="from")] = None,
        to: datetime.datetime | None = None,
        field_class: str | None = None,
    ) -> Connection[Disclosure] | None:
        context = info.context
        viewer = await context.require_viewer()
        await _admin_schools(context)
        size = page_size(first, context.settings.max_page_size)
        cursors = Cursors.of(context, "disclosures", "NEWEST", viewer)
        key = cursors.open(after, len(investigation.DISCLOSURE_ORDER.columns))
        since, until = time_range(from_, to)
        flt = investigation.DisclosureFilter(
            student_id=from_global_id(student_id, "Student")[1] if student_id else None,
            viewer_id=user_pk(viewer_id) if viewer_id else None,
            since=since,
            until=until,
            field_class=_field_class(field_class),
        )
        for name, value in (("studentId", flt.student_id), ("viewerId", flt.viewer_id)):
            if value is not None:
                reveals.require_filter(context, f"Query.disclosures({name})")
        # Each row is an entry of a student's record: only those the viewer may read.
        scope, _ = reveals.scope_for(context, viewer, "Query.disclosures")
        async with context.db() as connection:
            rows = await investigation.list_disclosures(
                connection=connection, scope=scope, flt=flt, first=size, after=key
            )

        async def count() -> int:
            async with context.db() as connection:
                return await investigation.count_disclosures(
                    connection=connection, scope=scope, flt=flt
                )

        return build_connection(
            [Disclosure.from_row(r) for r in rows],
            first=size,
            after=key,
            cursor=lambda d: cursors.seal((from_global_id(d.id)[1],)),
            count=count,
        )


def time_range(
    since: datetime.datetime | None, until: datetime.datetime | None
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """`from` and `to` as aware times (UTC when no zone is given); an empty range is bad input."""
    since, until = (
        t.replace(tzinfo=datetime.UTC) if t is not None and t.tzinfo is None else t
        for t in (since, until)
    )
    if since is not None and until is not None and until <= since:
        raise BadInput("`to` must be after `from`", argument="to")
    return since, until


def _field_class(name: str | None) -> str | None:
    if name is not None and name not in FIELD_CLASSES:
        raise BadInput(
            f"{name!r} is not a field class; one of {', '.join(FIELD_CLASSES)}",
            argument="fieldClass",
        )
    return name


def user_pk(global_id: str) -> int:
    type_name, pk = from_global_id(global_id)
    if type_name not in _USER_ID_TYPES:
        raise BadInput(f"{global_id!r} is not the id of a user")
    return pk


async def _subject(
    context: Context, admin: Viewer, user_id: str | None, username: str | None
) -> Viewer:
    """The user whose access is explained, loaded exactly as their own requests load them."""
    if user_id is not None and username is not None:
        raise BadInput("give either userId or username, not both", argument="username")
    async with context.db() as connection:
        if user_id is None and username is None:
            pk: int | None = admin.user_id  # "why may I read this?"
        elif user_id:
            pk = user_pk(user_id)
        else:
            pk = await _user_by_name(connection, admin, username)
        subject = await load_viewer(connection, user_id=pk) if pk is not None else None
    if subject is None or subject.district_id != admin.district_id:
        raise BadInput("no such active user in your district", argument="userId")
    return subject


async def _user_by_name(connection: Any, admin: Viewer, username: str | None) -> int | None:
    row: Row[Any] | None = (
        await connection.execute(
            text("SELECT id FROM app_user WHERE username = :name AND district_id = :district"),
            {"name": username, "district": admin.district_id},
        )
    ).first()
    return int(row.id) if row else None
