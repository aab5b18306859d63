"""`createUser`, `updateUser`, `deactivateUser`, `reactivateUser`, `markAccountReviewed`.

Administrators manage the accounts of their scope (schema/accounts/queries.py); a school
administrator only those that belong to their schools alone, never an administrator's
(app/accounts/scope.py). Roles given at creation are checked as `assignRole` checks them.
"""

from __future__ import annotations

from typing import Any

import strawberry

from app import writes
from app.accounts import review, scope, users
from app.accounts.scope import AdminScope
from app.models import Role
from schema.access.queries import user_pk
from schema.accounts.queries import admin_scope
from schema.accounts.types import Account
from schema.context import Context, Info
from schema.errors import UserError
from schema.people.mutations import _authorize
from schema.relay import from_global_id


@strawberry.input
class AccountRoleInput:
    role: Role
    school_id: strawberry.ID | None = strawberry.field(
        default=None, description="The school; null for the whole district."
    )


@strawberry.input
class CreateUserInput:
    username: str
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None
    roles: list[AccountRoleInput] = strawberry.field(default_factory=list)


@strawberry.input(description="Fields left out are kept; email or phone null clears it.")
class UpdateUserInput:
    user_id: strawberry.ID
    username: str | None = strawberry.UNSET
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET


@strawberry.input
class UserIdInput:
    user_id: strawberry.ID


@strawberry.input
class MarkAccountReviewedInput:
    user_id: strawberry.ID
    note: str | None = None


@strawberry.type
class UserPayload:
    user: Account | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _account(context: Context, user_id: int) -> Account:
    async with context.db() as connection:
        row = await users.user(connection, user_id=user_id, district_id=context.actor().district_id)
    return Account.from_row(row)


async def _manageable(context: Context, admin: AdminScope, user_id: int) -> None:
    async with context.db() as connection:
        account = await scope.belonging(connection, user_id=user_id, district_id=admin.district_id)
    scope.require_manageable(admin, account)


def _refused(refusal: writes.WriteRefused) -> UserPayload:
    return UserPayload(user_errors=[UserError.of(refusal)])


@strawberry.type
class AccountMutation:
    @strawberry.mutation(
        description="Create an account (no password yet: it signs in once invited or reset), "
        "with roles in the administrator's scope. Audited."
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
        context = info.context
        viewer = await context.require_viewer()
        admin = await admin_scope(context)
        roles: list[tuple[str, int | None]] = []
        for given in input.roles:
            school = from_global_id(given.school_id, "School")[1] if given.school_id else None
            _authorize(context, viewer, given.role, school)
            roles.append((given.role.value, school))
        if admin.schools is not None and not roles:
            return _refused(
                writes.WriteRefused("give the account a role at your school", "REQUIRED", "roles")
            )
        values: dict[str, Any] = {
            "username": input.username,
            "first_name": input.first_name,
            "last_name": input.last_name,
            "email": input.email,
            "phone": input.phone,
        }
        try:
            async with context.db() as connection:
                user_id = await users.create_user(
                    connection, context.actor(), values=values, roles=roles
                )
        except writes.WriteRefused as refusal:
            return _refused(refusal)
        return UserPayload(user=await _account(context, user_id))

    @strawberry.mutation(description="Change an account's username, names, email or phone.")
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        context = info.context
        await context.require_viewer()
        admin = await admin_scope(context)
        user_id = user_pk(input.user_id)
        values = {
            column: getattr(input, name)
            for column, name in (
                ("username", "username"),
                ("first_name", "first_name"),
                ("last_name", "last_name"),
                ("email", "email"),
                ("phone", "phone"),
            )
            if getattr(input, name) is not strawberry.UNSET
        }
        try:
            await _manageable(context, admin, user_id)
            async with context.db() as connection:
                await users.update_user(connection, context.actor(), user_id=user_id, values=values)
        except writes.WriteRefused as refusal:
            return _refused(refusal)
        return UserPayload(user=await _account(context, user_id))

    @strawberry.mutation(
        description="Deactivate an account: it cannot sign in, and its tokens stop working at "
        "once. Not one's own, nor the district's last district administrator. Audited."
    )
    async def deactivate_user(self, info: Info, input: UserIdInput) -> UserPayload:
        return await _set_active(info, input, active=False)

    @strawberry.mutation(description="Reactivate a deactivated account. Audited.")
    async def reactivate_user(self, info: Info, input: UserIdInput) -> UserPayload:
        return await _set_active(info, input, active=True)

    @strawberry.mutation(
        description="Record that an account was reviewed in the access review (now, by the "
        "viewer), with an optional note. Audited."
    )
    async def mark_account_reviewed(
        self, info: Info, input: MarkAccountReviewedInput
    ) -> UserPayload:
        context = info.context
        await context.require_viewer()
        admin = await admin_scope(context)
        user_id = user_pk(input.user_id)
        try:
            async with context.db() as connection:
                account = await scope.belonging(
                    connection, user_id=user_id, district_id=admin.district_id
                )
                if admin.schools is not None and not account.schools & admin.schools:
                    raise writes.WriteRefused("no such user", "NOT_FOUND", "userId")
                await review.mark_reviewed(
                    connection, context.actor(), user_id=user_id, note=input.note
                )
        except writes.WriteRefused as refusal:
            return _refused(refusal)
        return UserPayload(user=await _account(context, user_id))


async def _set_active(info: Info, input: UserIdInput, *, active: bool) -> UserPayload:
    context = info.context
    await context.require_viewer()
    admin = await admin_scope(context)
    user_id = user_pk(input.user_id)
    try:
        await _manageable(context, admin, user_id)
        async with context.db() as connection:
            await users.set_active(connection, context.actor(), user_id=user_id, active=active)
    except writes.WriteRefused as refusal:
        return _refused(refusal)
    return UserPayload(user=await _account(context, user_id))
