"""Districts, schools and terms: organisational data every member of the district may read."""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from schema.relay import Node, to_global_id


@strawberry.type
class District(Node):
    name: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> District:
        return cls(id=to_global_id("District", row.id), name=row.name)


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
