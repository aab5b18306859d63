"""`node(id)` of what hangs off a student: found through the student and the field that lists it.

    part = await student_part(info, "Mark", 42)   # None unless `Student.marks` shows it

Each kind is (the table that names its student, how the field lists it for the viewer). The
student comes from the scoped loader, so an unrelated student's marks are as absent as missing
ones; the field's decision is the one the field makes, without its redaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import text

from schema.context import Context, Info
from schema.relay import Node, to_global_id
from schema.students.types import (
    Disclosure,
    Guardian,
    Mark,
    ReadinessIndicator,
    Student,
)

Lister = Callable[[Context, Student], Awaitable[Sequence[Node] | None]]


async def _marks(context: Context, student: Student) -> Sequence[Node] | None:
    own_only = context.academic_release(student, "marks")
    if own_only is None:
        return None
    loaders = context.loaders
    rows = await (loaders.taught_marks if own_only else loaders.marks).load(student.pk)
    return [Mark.from_row(r) for r in rows]


async def _readiness(context: Context, student: Student) -> Sequence[Node] | None:
    if not context.allows(student, "Student.readiness"):
        return None
    rows = await context.loaders.readiness.load(student.pk)
    return [ReadinessIndicator.from_row(r) for r in rows]


async def _portfolio(context: Context, student: Student) -> Sequence[Node] | None:
    portfolio = await student.released_portfolio(context)
    return [portfolio] if portfolio else None


async def _portfolio_items(context: Context, student: Student) -> Sequence[Node] | None:
    portfolio = await student.released_portfolio(context)
    return portfolio.items if portfolio else None


async def _consents(context: Context, student: Student) -> Sequence[Node] | None:
    if not context.allows(student, "Student.consents"):
        return None
    return await student.consent_list(context)


async def _statements(context: Context, student: Student) -> Sequence[Node] | None:
    if not context.allows(student, "Student.statements"):
        return None
    return await student.shown_statements(context)


async def _guardians(context: Context, student: Student) -> Sequence[Node] | None:
    if not context.allows(student, "Student.guardians"):
        return None
    return [Guardian.from_row(r) for r in await context.loaders.guardians.load(student.pk)]


# (the statement giving the students an object belongs to, the field's rows for the viewer).
# Every statement is fixed text; the id is a bound parameter.
PARTS: dict[str, tuple[str, Lister]] = {
    "Mark": ("SELECT student_id FROM mark WHERE id = :id", _marks),
    "ReadinessIndicator": (
        "SELECT student_id FROM readiness_indicator WHERE id = :id",
        _readiness,
    ),
    "Portfolio": ("SELECT student_id FROM portfolio WHERE id = :id", _portfolio),
    "PortfolioItem": ("SELECT student_id FROM portfolio_item WHERE id = :id", _portfolio_items),
    "Consent": ("SELECT student_id FROM consent WHERE id = :id", _consents),
    "Statement": ("SELECT student_id FROM student_statement WHERE id = :id", _statements),
    # A guardian may be linked to several students: any one whose guardians the viewer reads.
    "Guardian": (
        "SELECT student_id FROM guardian_link WHERE guardian_user_id = :id"
        " AND starts_on <= CURRENT_DATE AND (ends_on IS NULL OR ends_on >= CURRENT_DATE)"
        " ORDER BY student_id",
        _guardians,
    ),
}


# Every kind `student_part` answers for.
KINDS = frozenset({*PARTS, "Disclosure"})


async def student_part(info: Info, type_name: str, pk: int) -> Node | None:
    """The object `type_name:pk` as the field that lists it shows it to the viewer; else None."""
    context = info.context
    if type_name == "Disclosure":
        return await _disclosure(context, pk)
    sql, lister = PARTS[type_name]
    async with context.db() as connection:
        found = (await connection.execute(text(sql), {"id": pk})).all()
    students = await context.loaders.student.load_many([r.student_id for r in found])
    wanted = to_global_id(type_name, pk)
    for row in students:
        if row is None:
            continue
        listed = await lister(context, Student.from_row(context, row))
        match = next((node for node in listed or () if node.id == wanted), None)
        if match is not None:
            return match
    return None


async def _disclosure(context: Context, pk: int) -> Node | None:
    """An entry of a student's record of disclosures: shown to whoever may read that record
    (`Student.disclosures`; `Query.disclosures` lists the same rows to administrators)."""
    async with context.db() as connection:
        row: Any = (
            await connection.execute(text("SELECT * FROM disclosure WHERE id = :id"), {"id": pk})
        ).first()
    if row is None:
        return None
    student = await context.loaders.student.load(row.student_id)
    if student is None or not context.allows(
        Student.from_row(context, student), "Student.disclosures"
    ):
        return None
    return Disclosure.from_row(row)
