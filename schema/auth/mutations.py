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
    otp: str | None = strawberry.field(
        default=None,
        description="The six-digit code of the account's authenticator app, when it has a "
        "second factor (or is enrolling one at sign-in).",
    )


@strawberry.type
class TotpEnrollment:
    secret: str = strawberry.field(description="Base32, for an authenticator app.")
    otpauth_uri: str = strawberry.field(description="The same as an `otpauth://` URI (QR code).")


@strawberry.type
class LoginPayload:
    token: str | None = None
    expires_at: datetime.datetime | None = None
    totp_enrollment: TotpEnrollment | None = strawberry.field(
        default=None,
        description="With MFA_ENROLLMENT_REQUIRED: a new secret; sign in again with `otp` set to "
        "a code it makes, which enables it.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Sign in with a username and password (and `otp` when the account has a "
        "second factor); returns a bearer token. Ten failed attempts in a row lock the account "
        "for a while, longer at each lock. MFA_REQUIRED: give `otp`; MFA_ENROLLMENT_REQUIRED: "
        "the district requires a second factor, `totpEnrollment` holds one to confirm. Null, "
        "with a RATE_LIMITED error and `retryAfter` seconds, after too many attempts or failures "
        "from one address or for one username."
    )
    async def login(self, info: Info, input: LoginInput) -> LoginPayload | None:
        # Nullable: a refused attempt nulls this field only, and the other fields of the
        # document keep their answers.
        context = info.context
        settings = context.settings
        client = context.request.client
        try:
            # Before any look-up: a refused attempt costs no hash.
            await context.login_limiter.admit(
                address=client.host if client else None, username=input.username
            )
            user_id = await auth.login(
                context.db,
                input.username,
                input.password,
                settings,
                hashing=context.hashing,
                accounts=context.engine,
                address=client.host if client else None,
                otp=input.otp,
            )
            async with context.db() as connection:
                issued = await sessions.begin(
                    connection, user_id, settings, request=context.request
                )
        except auth.LoginFailed as exc:
            # Counted already, on a connection of its own: a rollback of this request keeps it.
            return LoginPayload(user_errors=[UserError(message=str(exc), code="LOGIN_FAILED")])
        except auth.SecondFactorNeeded as exc:
            enrollment = exc.enrollment
            return LoginPayload(
                user_errors=[UserError(message=str(exc), code=exc.code, field=["otp"])],
                totp_enrollment=TotpEnrollment(
                    secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri
                )
                if enrollment
                else None,
            )
        except auth.AddressLocked as exc:
            metrics.add("schoolgraph_login_rate_limited_total")
            raise errors.RateLimited(str(exc), retryAfter=exc.retry_after) from exc
        except RateLimited as exc:
            raise errors.RateLimited(str(exc), retryAfter=exc.retry_after) from exc
        except PoolBusy as exc:
            metrics.add("schoolgraph_login_busy_total")
            raise errors.ServerBusy(str(exc), retryAfter=exc.retry_after) from exc
        return LoginPayload(token=issued.token, expires_at=issued.expires_at)
