"""Districts, schools and terms: organisational data every member of the district may read."""

from __future__ import annotations

import datetime
from typing import Any, cast

import strawberry
from sqlalchemy.engine import Row

from app.districts import settings
from schema.context import Info
from schema.relay import Node, to_global_id


@strawberry.type(
    description="A school district. Its settings are shown to its administrators; to others "
    "they are null, with a FORBIDDEN error."
)
class District(Node):
    name: str
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> District:
        return cls(id=to_global_id("District", row.id), name=row.name, row=row)

    def _setting(self, info: Info, name: str) -> Any:
        obj = f"District.{name}"
        if info.context.district_hit(obj):
            return getattr(self.row, _COLUMNS[name])
        info.context.redact(info, obj, "only the district's administrators read its settings")
        return None

    @strawberry.field(
        description="Days the district gives itself to answer a data request (45 at most)."
    )
    def data_request_days(self, info: Info) -> int | None:
        return cast(int | None, self._setting(info, "dataRequestDays"))

    @strawberry.field(
        description="When the district's contract ends; retention de-identifies its data six "
        "months later."
    )
    def contract_ends_on(self, info: Info) -> datetime.date | None:
        return cast(datetime.date | None, self._setting(info, "contractEndsOn"))

    @strawberry.field(
        description="When the district's subscription ends; retention de-identifies its data "
        "six months later."
    )
    def subscription_ends_on(self, info: Info) -> datetime.date | None:
        return cast(datetime.date | None, self._setting(info, "subscriptionEndsOn"))

    @strawberry.field(
        description="Days of notice before content collected from an under-13 student without "
        "parental consent is erased."
    )
    def consent_notice_days(self, info: Info) -> int | None:
        return cast(int | None, self._setting(info, "consentNoticeDays"))

    @strawberry.field(
        description="Whether staff with an administrator or coordinator role must sign in with "
        "a second factor (TOTP)."
    )
    def require_mfa(self, info: Info) -> bool | None:
        return cast(bool | None, self._setting(info, "requireMfa"))


_COLUMNS = {name: column for column, name in settings.FIELDS}


@strawberry.type
class School(Node):
    name: str
    code: str
    level: str = strawberry.field(description="elementary, middle or high")

    @classmethod
    def from_row(cls, row: Row[Any]) -> School:
        return cls(id=to_global_id("School", row.id), name=row.name, code=row.code, level=row.level)


@strawberry.type(description="An academic session.")
class Term(Node):
    name: str
    starts_on: datetime.date
    ends_on: datetime.date

    @classmethod
    def from_row(cls, row: Row[Any]) -> Term:
        return cls(
            id=to_global_id("Term", row.id),
            name=row.name,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
        )
