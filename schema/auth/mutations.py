"""`Mutation.login`: a token for a built-in account."""

from __future__ import annotations

import datetime

import strawberry

from app import auth
from schema.context import Info
from schema.errors import UserError


@strawberry.input
class LoginInput:
    username: str
    password: str


@strawberry.type
class LoginPayload:
    token: str | None = None
    expires_at: datetime.datetime | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Sign in with a username and password; returns a bearer "
        "token. Ten failed attempts lock the account."
    )
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        settings = info.context.settings
        async with info.context.db() as connection:
            try:
                user_id = await auth.login(connection, input.username, input.password, settings)
            except auth.LoginFailed as exc:
                # The failure count must be kept: the request commits, it does not roll back.
                return LoginPayload(user_errors=[UserError(message=str(exc), code="LOGIN_FAILED")])
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
            seconds=settings.token_ttl_seconds
        )
        return LoginPayload(token=auth.issue_token(user_id, settings), expires_at=expires)
