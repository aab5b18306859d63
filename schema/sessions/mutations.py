"""`logout`, `revokeSession` and `revokeAllSessions`: end sign-ins, audited.

Everyone ends their own sessions; administrators end those of the users in their scope
(schema/sessions/scope.py). A revoked session's token is refused (401) from the next request on.
"""

from __future__ import annotations

import strawberry

from app import writes
from app.sessions import store
from schema.context import Info
from schema.errors import Forbidden, UserError
from schema.sessions.queries import current_session
from schema.sessions.scope import may_revoke
from schema.sessions.types import Session


@strawberry.input
class LogoutInput:
    everywhere: bool = strawberry.field(
        default=False, description="Also end every other session of the account."
    )


@strawberry.type
class LogoutPayload:
    session: Session | None = None
    revoked_session_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RevokeSessionInput:
    id: strawberry.ID = strawberry.field(description="A Session id.")


@strawberry.type
class RevokeSessionPayload:
    session: Session | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RevokeAllSessionsInput:
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="A StaffMember or Guardian id; the viewer's own when null."
    )


@strawberry.type
class RevokeAllSessionsPayload:
    revoked_session_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


_NOT_FOUND = "no such session, or it has already ended"


@strawberry.type
class SessionMutation:
    @strawberry.mutation(
        description="Sign out: end the session of this request's token (and with "
        "`everywhere`, every other session of the account). Audited."
    )
    async def logout(
        self,
        info: Info,
        # A default in the schema: `mutation { logout { ... } }` needs no argument.
        input: LogoutInput = LogoutInput(),
    ) -> LogoutPayload:
        context = info.context
        viewer = await context.require_viewer()
        session_id = current_session(info)
        everywhere = input.everywhere
        if session_id is None and not everywhere:
            return LogoutPayload(
                user_errors=[
                    UserError(
                        message="this token was not issued by a sign-in: it ends when it expires",
                        code="NO_SESSION",
                    )
                ]
            )
        actor = context.actor()
        async with context.db() as connection:
            if everywhere:
                ended = await store.revoke_all(connection, viewer.user_id, by=viewer.user_id)
            else:
                row = await store.revoke(connection, str(session_id), by=viewer.user_id)
                ended = [str(row.id)] if row is not None else []
            await writes.audit(
                connection,
                actor,
                "logout",
                "User",
                viewer.user_id,
                {"sessions": ended, "everywhere": everywhere},
            )
            row = await store.one(connection, session_id) if session_id else None
        return LogoutPayload(
            session=Session.from_row(row, current=session_id) if row is not None else None,
            revoked_session_ids=[strawberry.ID(s) for s in ended],
        )

    @strawberry.mutation(
        description="End one session: the viewer's own, or for an administrator one of a user "
        "in their scope. Its token is refused from the next request on. Audited."
    )
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionPayload:
        context = info.context
        viewer = await context.require_viewer()
        session_id = str(input.id).strip()
        not_found = RevokeSessionPayload(
            user_errors=[UserError(message=_NOT_FOUND, field=["id"], code="NOT_FOUND")]
        )
        if not session_id or len(session_id) > 64:
            return not_found
        async with context.db() as connection:
            owner = await store.owner_of_session(connection, session_id)
            if owner is None or owner.district_id != viewer.district_id:
                return not_found
            if not may_revoke(context, viewer, owner):
                raise Forbidden(
                    "you may not end this user's sessions", reason="not an administrator here"
                )
            row = await store.revoke(connection, session_id, by=viewer.user_id)
            if row is None:
                return not_found
            await writes.audit(
                connection,
                context.actor(),
                "revoke_session",
                "User",
                owner.user_id,
                {"session": session_id},
            )
            ended = await store.one(connection, session_id)
        return RevokeSessionPayload(
            session=Session.from_row(ended, current=current_session(info)) if ended else None
        )

    @strawberry.mutation(
        description="End every live session of a user: the viewer's own (no `userId`), or for "
        "an administrator a user in their scope. Audited."
    )
    async def revoke_all_sessions(
        self,
        info: Info,
        input: RevokeAllSessionsInput = RevokeAllSessionsInput(),  # the viewer's own
    ) -> RevokeAllSessionsPayload:
        from schema.access.queries import user_pk

        context = info.context
        viewer = await context.require_viewer()
        user_id = user_pk(input.user_id) if input.user_id else viewer.user_id
        async with context.db() as connection:
            owner = await store.owner(connection, user_id)
            if owner is None or owner.district_id != viewer.district_id:
                return RevokeAllSessionsPayload(
                    user_errors=[
                        UserError(message="no such user", field=["userId"], code="NOT_FOUND")
                    ]
                )
            if not may_revoke(context, viewer, owner):
                raise Forbidden(
                    "you may not end this user's sessions", reason="not an administrator here"
                )
            ended = await store.revoke_all(connection, user_id, by=viewer.user_id)
            await writes.audit(
                connection,
                context.actor(),
                "revoke_all_sessions",
                "User",
                user_id,
                {"sessions": ended},
            )
        return RevokeAllSessionsPayload(revoked_session_ids=[strawberry.ID(s) for s in ended])
