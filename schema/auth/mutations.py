"""`Mutation.login`: a token for a built-in account."""

from __future__ import annotations

import datetime

import strawberry

from app import auth, metrics
from app.login_limits import RateLimited
from app.offload import PoolBusy
from app.sessions import sign_in as sessions
from schema import errors
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
        "token. Ten failed attempts lock the account. Null, with a RATE_LIMITED error and "
        "`retryAfter` seconds, after too many attempts from one address or for one username."
    )
    async def login(self, info: Info, input: LoginInput) -> LoginPayload | None:
        # Nullable: a refused attempt nulls this field only, so that the failures counted by
        # other logins of the same request are still committed (the lockout counts them).
        context = info.context
        settings = context.settings
        client = context.request.client
        try:
            # Before any look-up: a refused attempt costs no hash.
            await context.login_limiter.admit(
                address=client.host if client else None, username=input.username
            )
            async with context.db() as connection:
                user_id = await auth.login(
                    connection, input.username, input.password, settings, hashing=context.hashing
                )
                issued = await sessions.begin(
                    connection, user_id, settings, request=context.request
                )
        except auth.LoginFailed as exc:
            # The failure count must be kept: the request commits, it does not roll back.
            return LoginPayload(user_errors=[UserError(message=str(exc), code="LOGIN_FAILED")])
        except RateLimited as exc:
            raise errors.RateLimited(str(exc), retryAfter=exc.retry_after) from exc
        except PoolBusy as exc:
            metrics.add("schoolgraph_login_busy_total")
            raise errors.ServerBusy(str(exc), retryAfter=exc.retry_after) from exc
        return LoginPayload(token=issued.token, expires_at=issued.expires_at)
