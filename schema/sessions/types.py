"""The `Session` type: one sign-in, its device and address, when it started and was last seen."""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from schema.relay import to_global_id


@strawberry.type(description="The account a session signs in.")
class SessionUser:
    id: strawberry.ID = strawberry.field(description="A StaffMember id.")
    username: str
    first_name: str
    last_name: str


@strawberry.type(description="One sign-in: a `login` (or a token made on the command line).")
class Session:
    id: strawberry.ID = strawberry.field(description="The session's id (`revokeSession` takes it).")
    user_id: strawberry.ID = strawberry.field(description="The account (a StaffMember id).")
    user: SessionUser
    username: str
    first_name: str
    last_name: str
    started_at: datetime.datetime
    last_seen_at: datetime.datetime = strawberry.field(
        description="The last request, to within a minute."
    )
    expires_at: datetime.datetime
    address: str | None = strawberry.field(
        description="The client address the server saw at sign-in."
    )
    user_agent: str | None = strawberry.field(
        description="The device: the sign-in's User-Agent, shortened."
    )
    revoked_at: datetime.datetime | None
    current: bool = strawberry.field(description="The session of the token of this request.")

    @classmethod
    def from_row(cls, row: Row[Any], *, current: str | None = None) -> Session:
        user_id = to_global_id("StaffMember", row.user_id)
        return cls(
            id=strawberry.ID(row.id),
            user_id=user_id,
            user=SessionUser(
                id=user_id,
                username=row.username,
                first_name=row.first_name,
                last_name=row.last_name,
            ),
            username=row.username,
            first_name=row.first_name,
            last_name=row.last_name,
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            address=row.address,
            user_agent=row.user_agent,
            revoked_at=row.revoked_at,
            current=row.id == current,
        )
