"""`changePassword`, `issuePasswordReset` and `redeemPasswordToken` (app/passwords).

Who may issue a token is the policy's `PasswordReset` write: a school administrator for accounts
that belong only to their schools (and hold no administrator or district-wide role), a district
administrator for every account of the district.
"""

from __future__ import annotations

import datetime
import enum

import strawberry

from app import metrics, writes
from app.login_limits import RateLimited
from app.models import Role
from app.offload import PoolBusy
from app.passwords import change, tokens
from schema import errors
from schema.access.queries import user_pk
from schema.context import Context, Info
from schema.errors import Forbidden, UserError
from schema.relay import from_global_id

_ADMIN_ROLES = frozenset({Role.SCHOOL_ADMIN.value, Role.DISTRICT_ADMIN.value})


@strawberry.enum(description="What a one-time password token is for.")
class PasswordTokenPurpose(enum.Enum):
    RESET = tokens.RESET
    INVITATION = tokens.INVITATION


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str = strawberry.field(
        description="At least 12 characters, hard to guess, and not built from the account's "
        "username, names or email."
    )


@strawberry.type
class ChangePasswordPayload:
    changed: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class IssuePasswordResetInput:
    user_id: strawberry.ID = strawberry.field(
        description="A StaffMember or Guardian id, or a Student id for the student's own account."
    )
    purpose: PasswordTokenPurpose = PasswordTokenPurpose.RESET


@strawberry.type
class IssuePasswordResetPayload:
    user_id: strawberry.ID | None = None
    purpose: PasswordTokenPurpose | None = None
    token: str | None = strawberry.field(
        default=None,
        description="The one-time token, shown only here: hand it to the account's owner.",
    )
    expires_at: datetime.datetime | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RedeemPasswordTokenInput:
    token: str
    new_password: str


@strawberry.type
class RedeemPasswordTokenPayload:
    username: str | None = strawberry.field(
        default=None, description="The account whose password was set: sign in with it."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _may_issue(context: Context, target: tokens.Target) -> bool:
    """The policy's `PasswordReset` write, for the district (any account) or for every school
    the account belongs to (then only an account with no administrator or district-wide role)."""
    if context.district_hit("PasswordReset", act="write"):
        return True
    if not target.schools:
        return False
    if any(school is None or role in _ADMIN_ROLES for role, school in target.roles):
        return False
    return all(context.write_hit("PasswordReset", school_id=s) for s in target.schools)


@strawberry.type
class PasswordMutation:
    @strawberry.mutation(
        description="Change the signed-in account's own password (audited). WRONG_PASSWORD when "
        "`currentPassword` is wrong; WEAK_PASSWORD, with the reasons, when the new one is refused."
    )
    async def change_password(
        self, info: Info, input: ChangePasswordInput
    ) -> ChangePasswordPayload:
        context = info.context
        viewer = await context.require_viewer()
        client = context.request.client
        try:
            # Guessing the current password here is held to the same rate as signing in.
            await context.login_limiter.admit(
                address=client.host if client else None, username=viewer.username
            )
            async with context.db() as connection:
                await change.change_password(
                    connection,
                    context.actor(),
                    context.hashing,
                    current=input.current_password,
                    new=input.new_password,
                )
        except writes.WriteRefused as refusal:
            return ChangePasswordPayload(user_errors=[UserError.of(refusal)])
        except RateLimited as exc:
            raise errors.RateLimited(str(exc), retryAfter=exc.retry_after) from exc
        except PoolBusy as exc:
            metrics.add("schoolgraph_login_busy_total")
            raise errors.ServerBusy(str(exc), retryAfter=exc.retry_after) from exc
        return ChangePasswordPayload(changed=True)

    @strawberry.mutation(
        description="Issue a one-time password reset or invitation token for an account of "
        "your scope (audited). The token is returned once; an earlier unused one stops working."
    )
    async def issue_password_reset(
        self, info: Info, input: IssuePasswordResetInput
    ) -> IssuePasswordResetPayload:
        context = info.context
        viewer = await context.require_viewer()
        kind, pk = from_global_id(input.user_id)
        user = pk if kind == "Student" else user_pk(input.user_id)
        try:
            async with context.db() as connection:
                if kind == "Student":
                    user = await tokens.student_account(connection, pk, viewer.district_id) or 0
                target = await tokens.target(connection, user, viewer.district_id)
                if target is None:
                    raise writes.WriteRefused("no such user", "NOT_FOUND", "userId")
                if not _may_issue(context, target):
                    raise Forbidden(
                        "you may not issue a password token for this account",
                        reason="not an administrator of every school the account belongs to",
                    )
                issued = await tokens.issue(
                    connection,
                    context.actor(),
                    context.settings,
                    account=target.account,
                    purpose=input.purpose.value,
                )
        except writes.WriteRefused as refusal:
            return IssuePasswordResetPayload(user_errors=[UserError.of(refusal)])
        return IssuePasswordResetPayload(
            user_id=input.user_id,
            purpose=input.purpose,
            token=issued.token,
            expires_at=issued.expires_at,
        )

    @strawberry.mutation(
        description="Set a password with a one-time reset or invitation token (no sign-in "
        "needed). INVALID_TOKEN for an unknown, used or expired token; WEAK_PASSWORD, with the "
        "reasons, leaves the token usable."
    )
    async def redeem_password_token(
        self, info: Info, input: RedeemPasswordTokenInput
    ) -> RedeemPasswordTokenPayload:
        context = info.context
        try:
            async with context.db() as connection:
                account = await tokens.redeem(
                    connection,
                    context.hashing,
                    token=input.token,
                    new_password=input.new_password,
                    request_id=context.request_id,
                )
        except writes.WriteRefused as refusal:
            return RedeemPasswordTokenPayload(user_errors=[UserError.of(refusal)])
        except PoolBusy as exc:
            raise errors.ServerBusy(str(exc), retryAfter=exc.retry_after) from exc
        return RedeemPasswordTokenPayload(username=account.username)
