"""`Viewer.sessions` (the viewer's own) and `Query.activeSessions` (administrators, in scope)."""

from __future__ import annotations

import strawberry

from app.sessions import store
from schema.context import Info
from schema.cursors import Cursors
from schema.errors import Forbidden
from schema.relay import Connection, build_connection, from_global_id, page_size
from schema.sessions.scope import list_scope
from schema.sessions.types import Session


def current_session(info: Info) -> str | None:
    subject = info.context.subject
    return subject.session_id if subject is not None else None


async def own_sessions(info: Info, user_id: int) -> list[Session]:
    async with info.context.db() as connection:
        rows = await store.own(connection, user_id=user_id)
    current = current_session(info)
    return [Session.from_row(r, current=current) for r in rows]


@strawberry.type
class SessionQuery:
    @strawberry.field(
        description="For administrators: the live sessions (signed in, not revoked, not expired) "
        "of the users of their schools — a district administrator the district's — newest "
        "first. `schoolId` narrows to the users of one school (staff and vendors with a role "
        "there, its students and their guardians), `userId` to one user."
    )
    async def active_sessions(
        self,
        info: Info,
        school_id: strawberry.ID | None = None,
        user_id: strawberry.ID | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Session] | None:
        from schema.access.queries import user_pk

        context = info.context
        viewer = await context.require_viewer()
        scope = list_scope(context, viewer)
        size = page_size(first, context.settings.max_page_size)
        school = from_global_id(school_id, "School")[1] if school_id else None
        if school is not None and scope.school_ids is not None and school not in scope.school_ids:
            raise Forbidden("you do not administer this school", reason="not an administrator")
        user = user_pk(user_id) if user_id else None
        cursors = Cursors.of(context, "activeSessions", "NEWEST", viewer)
        key = cursors.open(after, len(store.ORDER.columns))
        async with context.db() as connection:
            rows = await store.active(
                connection, scope=scope, school_id=school, user_id=user, first=size, after=key
            )

        async def count() -> int:
            async with context.db() as connection:
                return await store.count_active(
                    connection, scope=scope, school_id=school, user_id=user
                )

        current = current_session(info)
        sessions = [(Session.from_row(r, current=current), store.ORDER.key(r)) for r in rows]
        keys = {s.id: k for s, k in sessions}
        return build_connection(
            [s for s, _ in sessions],
            first=size,
            after=key,
            cursor=lambda s: cursors.seal(keys[s.id]),
            count=count,
        )
