"""The viewer's own second factor: `beginTotpEnrollment`, `confirmTotpEnrollment`, `disableTotp`.

Enrolling asks for the password again (a token left open on a shared computer cannot enrol an
attacker's authenticator); disabling asks for a current code. Each step is audited; the secret
is never in the audit.
"""

from __future__ import annotations

import strawberry
from sqlalchemy import text

from app import auth, writes
from app.signin import totp
from schema.context import Info
from schema.errors import UserError


@strawberry.input
class BeginTotpEnrollmentInput:
    password: str = strawberry.field(description="The account's current password, again.")


@strawberry.type
class BeginTotpEnrollmentPayload:
    secret: str | None = strawberry.field(default=None, description="Base32, for the app.")
    otpauth_uri: str | None = strawberry.field(
        default=None, description="The same as an `otpauth://` URI, for a QR code."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class TotpCodeInput:
    code: str = strawberry.field(description="A six-digit code of the authenticator app.")


@strawberry.type
class TotpPayload:
    totp_enabled: bool | None = strawberry.field(
        default=None, description="Whether sign-ins of the account now ask for a code."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _wrong(exc: totp.WrongCode) -> TotpPayload:
    return TotpPayload(user_errors=[UserError(message=str(exc), code="WRONG_CODE", field=["code"])])


@strawberry.type
class SecondFactorMutation:
    @strawberry.mutation(
        description="Start enrolling a second factor (TOTP): a new secret, not in force until "
        "`confirmTotpEnrollment` accepts a code it makes. Audited."
    )
    async def begin_totp_enrollment(
        self, info: Info, input: BeginTotpEnrollmentInput
    ) -> BeginTotpEnrollmentPayload:
        context = info.context
        viewer = await context.require_viewer()
        async with context.db() as connection:
            stored = (
                await connection.execute(
                    text("SELECT password_hash FROM app_user WHERE id = :id"),
                    {"id": viewer.user_id},
                )
            ).scalar()
        if not await auth.verify_password_in(context.hashing, stored, input.password):
            error = UserError(message="the password is wrong", code="WRONG_PASSWORD")
            return BeginTotpEnrollmentPayload(user_errors=[error])
        async with context.db() as connection:
            try:
                enrollment = await totp.begin(connection, viewer.user_id)
            except totp.WrongCode as exc:
                error = UserError(message=str(exc), code="ALREADY_ENABLED")
                return BeginTotpEnrollmentPayload(user_errors=[error])
            await writes.audit(
                connection, context.actor(), "begin_totp_enrollment", "User", viewer.user_id, {}
            )
        return BeginTotpEnrollmentPayload(
            secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri
        )

    @strawberry.mutation(
        description="Enable the second factor begun with `beginTotpEnrollment`, with a code it "
        "makes; sign-ins then ask for a code (`login(input: {otp})`). Audited."
    )
    async def confirm_totp_enrollment(self, info: Info, input: TotpCodeInput) -> TotpPayload:
        context = info.context
        viewer = await context.require_viewer()
        async with context.db() as connection:
            try:
                await totp.confirm(connection, viewer.user_id, input.code)
            except totp.WrongCode as exc:
                return _wrong(exc)
            await writes.audit(
                connection, context.actor(), "confirm_totp_enrollment", "User", viewer.user_id, {}
            )
        return TotpPayload(totp_enabled=True)

    @strawberry.mutation(
        description="Turn the viewer's second factor off, with a current code. Refused while "
        "the district requires one of the viewer's roles. Audited."
    )
    async def disable_totp(self, info: Info, input: TotpCodeInput) -> TotpPayload:
        context = info.context
        viewer = await context.require_viewer()
        async with context.db() as connection:
            if await totp.required(connection, viewer.user_id):
                error = UserError(
                    message="your district requires a second factor for your role",
                    code="MFA_REQUIRED",
                )
                return TotpPayload(user_errors=[error])
            try:
                await totp.check(connection, viewer.user_id, input.code)
            except totp.WrongCode as exc:
                return _wrong(exc)
            await totp.disable(connection, viewer.user_id)
            await writes.audit(
                connection, context.actor(), "disable_totp", "User", viewer.user_id, {}
            )
        return TotpPayload(totp_enabled=False)
