"""`Query.users` and `Query.accessReview`, for administrators.

Who administers accounts is the policy's to say: the pairs that may write `RoleAssignment`
(district administrators district-wide, school administrators at their schools) list and manage
the accounts of their scope (app/accounts/scope.py).
"""

from __future__ import annotations

import datetime

import strawberry
from sqlalchemy import text

from app.accounts import review, users
from app.accounts.scope import AdminScope
from schema.accounts.types import AccessReview, Account, UserFilter
from schema.context import Context, Info
from schema.cursors import Cursors
from schema.errors import BadInput, Forbidden
from schema.relay import Connection, build_connection, from_global_id, page_size

# The policy object whose writers administer accounts.
ADMINISTERS = "RoleAssignment"
MAX_SEARCH = 100


async def admin_scope(context: Context) -> AdminScope:
    """The accounts the viewer administers; Forbidden for anyone who administers none."""
    viewer = await context.require_viewer()
    if context.district_hit(ADMINISTERS, act="write"):
        return AdminScope(viewer.district_id, None)
    schools = frozenset(
        school
        for _, school in viewer.roles
        if school is not None and context.write_hit(ADMINISTERS, school_id=school)
    )
    if not schools:
        raise Forbidden("only administrators manage accounts", reason="not an administrator")
    return AdminScope(viewer.district_id, schools)


def _filter(flt: UserFilter | None) -> users.UserFilter:
    if flt is None:
        return users.UserFilter()
    search = flt.search.strip() if flt.search else None
    if search and len(search) > MAX_SEARCH:
        raise BadInput(f"`search` is at most {MAX_SEARCH} characters", argument="filter")
    since = flt.last_sign_in_before
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=datetime.UTC)
    return users.UserFilter(
        role=flt.role.value if flt.role else None,
        school_id=from_global_id(flt.school_id, "School")[1] if flt.school_id else None,
        last_sign_in_before=since,
        locked=flt.locked,
        inactive=flt.inactive,
        search=search or None,
    )


@strawberry.type
class AccountQuery:
    @strawberry.field(
        description="For administrators: the accounts of their scope (a district "
        "administrator's district; a school administrator's schools: accounts with a role "
        "there, their students and their students' guardians), in username order."
    )
    async def users(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        filter: UserFilter | None = None,
    ) -> Connection[Account] | None:
        context = info.context
        viewer = await context.require_viewer()
        scope = await admin_scope(context)
        size = page_size(first, context.settings.max_page_size)
        cursors = Cursors.of(context, "users", "USERNAME", viewer)
        key = cursors.open(after, 1)
        flt = _filter(filter)
        async with context.db() as connection:
            rows = await users.list_users(
                connection, scope=scope, flt=flt, first=size, after=key[0] if key else None
            )

        async def count() -> int:
            async with context.db() as connection:
                return await users.count_users(connection, scope=scope, flt=flt)

        return build_connection(
            [Account.from_row(r) for r in rows],
            first=size,
            after=key,
            cursor=lambda a: cursors.seal((a.username,)),
            count=count,
        )

    @strawberry.field(
        description="For administrators: the termly access review of a school (`schoolId`) "
        "or, for a district administrator without one, of the district."
    )
    async def access_review(
        self, info: Info, school_id: strawberry.ID | None = None
    ) -> AccessReview | None:
        context = info.context
        viewer = await context.require_viewer()
        scope = await admin_scope(context)
        school = from_global_id(school_id, "School")[1] if school_id else None
        if school is None and scope.schools is not None:
            if len(scope.schools) != 1:
                raise BadInput("name the school to review (`schoolId`)", argument="schoolId")
            school = next(iter(scope.schools))
        if school is not None and scope.schools is not None and school not in scope.schools:
            raise Forbidden("you do not administer this school", reason="not an administrator")
        async with context.db() as connection:
            if school is not None:
                found = await connection.execute(
                    text("SELECT 1 FROM school WHERE id = :id AND district_id = :district_id"),
                    {"id": school, "district_id": viewer.district_id},
                )
                if found.first() is None:
                    raise BadInput("no such school", argument="schoolId")
            result = await review.access_review(
                connection, district_id=viewer.district_id, school_id=school
            )
        return AccessReview.of(result)
