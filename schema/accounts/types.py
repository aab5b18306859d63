"""Accounts as administrators see them, and the termly access review."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from app.accounts import review
from app.models import Role
from schema.context import Info
from schema.relay import to_global_id
from schema.schools.types import School


async def _school(info: Info, school_id: int | None) -> School | None:
    if school_id is None:
        return None
    row = await info.context.loaders.school.load(school_id)
    return School.from_row(row) if row else None


@strawberry.type(description="A role an account holds, at a school or across the district.")
class AccountRole:
    role: Role
    school_id: strawberry.ID | None = strawberry.field(description="Null: district-wide.")
    _school_pk: strawberry.Private[int | None]

    @strawberry.field
    async def school(self, info: Info) -> School | None:
        return await _school(info, self._school_pk)

    @classmethod
    def of(cls, role: str, school_id: int | None) -> AccountRole:
        return cls(
            role=Role(role),
            school_id=to_global_id("School", school_id) if school_id else None,
            _school_pk=school_id,
        )


@strawberry.type(
    description="A login account of the district, as its administrators see it. `id` is the "
    "user's id, as `Viewer.id`: it is the `userId` every mutation about users takes."
)
class Account:
    id: strawberry.ID
    username: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    roles: list[AccountRole]
    is_active: bool = strawberry.field(description="False once deactivated: no sign-in.")
    locked: bool = strawberry.field(description="Locked out after failed sign-ins.")
    locked_until: datetime.datetime | None = strawberry.field(
        description="When a temporary lock ends; null when not locked for a time."
    )
    last_sign_in_at: datetime.datetime | None
    reviewed_at: datetime.datetime | None = strawberry.field(
        description="When the account was last confirmed in an access review."
    )
    created_at: datetime.datetime | None
    mfa_enabled: bool = strawberry.field(description="A second factor (TOTP) is enrolled.")
    deidentified: bool

    @classmethod
    def from_row(cls, row: Row[Any]) -> Account:
        roles = row.roles if isinstance(row.roles, list) else json.loads(row.roles)
        return cls(
            id=to_global_id("StaffMember", row.id),
            username=row.username,
            first_name=row.first_name,
            last_name=row.last_name,
            email=row.email,
            phone=row.phone,
            roles=[AccountRole.of(r["role"], r["school_id"]) for r in roles],
            is_active=row.is_active,
            locked=row.locked,
            locked_until=row.lock_until if row.locked else None,
            last_sign_in_at=row.last_sign_in_at,
            reviewed_at=row.reviewed_at,
            created_at=row.created_at,
            mfa_enabled=row.totp_enabled_at is not None,
            deidentified=row.deidentified_at is not None,
        )


@strawberry.input(description="Every filter given narrows the list.")
class UserFilter:
    role: Role | None = None
    school_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Accounts with a role at the school, its students, and "
        "the guardians of its students.",
    )
    last_sign_in_before: datetime.datetime | None = strawberry.field(
        default=None, description="Last signed in before this time, or never."
    )
    locked: bool | None = None
    inactive: bool | None = strawberry.field(
        default=None, description="true: deactivated accounts only; false: active ones only."
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the username, first or last name."
    )


@strawberry.enum(description="What the termly access review asks an administrator to look at.")
class AccessReviewFlag(enum.Enum):
    NO_SIGN_IN_90_DAYS = review.NO_SIGN_IN_90_DAYS
    ROLE_WITHOUT_TEACHING = review.ROLE_WITHOUT_TEACHING
    GRANT_EXPIRING = review.GRANT_EXPIRING
    DEACTIVATED_STUDENT_ACCOUNT_ACTIVE = review.DEACTIVATED_STUDENT_ACCOUNT_ACTIVE


@strawberry.type
class AccessReviewRole:
    role: Role
    school_id: strawberry.ID | None
    school_name: str | None
    teaching: bool | None = strawberry.field(
        description="For a teacher role at a school: teaches a class of a current term there."
    )


@strawberry.type(description="An active legitimate-interest grant held by the account.")
class AccessReviewGrant:
    id: strawberry.ID
    scope: str
    purpose: str
    school_id: strawberry.ID | None
    expires_at: datetime.datetime
    expiring: bool = strawberry.field(description=f"Ends within {review.EXPIRING_DAYS} days.")


@strawberry.type(description="A staff or vendor account under review.")
class AccessReviewAccount:
    user_id: strawberry.ID
    username: str
    first_name: str
    last_name: str
    is_active: bool
    last_sign_in_at: datetime.datetime | None
    reviewed_at: datetime.datetime | None
    reviewed_by: str | None = strawberry.field(description="The reviewer's username.")
    roles: list[AccessReviewRole]
    grants: list[AccessReviewGrant]
    flags: list[AccessReviewFlag]

    @classmethod
    def of(cls, a: review.ReviewAccount) -> AccessReviewAccount:
        return cls(
            user_id=to_global_id("StaffMember", a.user_id),
            username=a.username,
            first_name=a.first_name,
            last_name=a.last_name,
            is_active=a.is_active,
            last_sign_in_at=a.last_sign_in_at,
            reviewed_at=a.reviewed_at,
            reviewed_by=a.reviewed_by,
            roles=[
                AccessReviewRole(
                    role=Role(r.role),
                    school_id=to_global_id("School", r.school_id) if r.school_id else None,
                    school_name=r.school_name,
                    teaching=r.teaching,
                )
                for r in a.roles
            ],
            grants=[
                AccessReviewGrant(
                    id=to_global_id("LegitimateInterestGrant", g.id),
                    scope=g.scope.upper(),
                    purpose=g.purpose,
                    school_id=to_global_id("School", g.school_id) if g.school_id else None,
                    expires_at=g.expires_at,
                    expiring=g.expiring,
                )
                for g in a.grants
            ],
            flags=[AccessReviewFlag(f) for f in a.flags],
        )


@strawberry.type(description="A student account still active although the record is not.")
class AccessReviewStudentAccount:
    student_id: strawberry.ID
    user_id: strawberry.ID
    username: str
    school_id: strawberry.ID
    school_name: str
    enrollment_status: str
    deidentified: bool
    last_sign_in_at: datetime.datetime | None
    flags: list[AccessReviewFlag]

    @classmethod
    def of(cls, s: review.ReviewStudentAccount) -> AccessReviewStudentAccount:
        return cls(
            student_id=to_global_id("Student", s.student_id),
            user_id=to_global_id("StaffMember", s.user_id),
            username=s.username,
            school_id=to_global_id("School", s.school_id),
            school_name=s.school_name,
            enrollment_status=s.enrollment_status,
            deidentified=s.deidentified,
            last_sign_in_at=s.last_sign_in_at,
            flags=[AccessReviewFlag(f) for f in s.flags],
        )


@strawberry.type
class FlagCount:
    flag: AccessReviewFlag
    count: int


@strawberry.type(
    description="The termly access review of a school or of the district. Flags: "
    f"NO_SIGN_IN_90_DAYS (never, or not for {review.STALE_DAYS} days), ROLE_WITHOUT_TEACHING "
    "(a teacher role at a school where the account teaches no current class), GRANT_EXPIRING "
    f"(an active grant ending within {review.EXPIRING_DAYS} days); studentAccounts: "
    "DEACTIVATED_STUDENT_ACCOUNT_ACTIVE."
)
class AccessReview:
    school_id: strawberry.ID | None = strawberry.field(description="Null: the district.")
    generated_at: datetime.datetime
    accounts: list[AccessReviewAccount]
    student_accounts: list[AccessReviewStudentAccount]
    flag_counts: list[FlagCount]

    @classmethod
    def of(cls, r: review.AccessReview) -> AccessReview:
        return cls(
            school_id=to_global_id("School", r.school_id) if r.school_id else None,
            generated_at=datetime.datetime.now(datetime.UTC),
            accounts=[AccessReviewAccount.of(a) for a in r.accounts],
            student_accounts=[AccessReviewStudentAccount.of(s) for s in r.students],
            flag_counts=[
                FlagCount(flag=AccessReviewFlag(f), count=n) for f, n in r.flag_counts().items()
            ],
        )
