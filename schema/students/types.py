"""Student and what hangs off it. Every field that policy can deny is nullable and asks the
context (`reveal`) before it answers; directory reads are free, the rest are recorded as
disclosures."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from app import models
from schema.context import Context, Info
from schema.relay import Node, to_global_id
from schema.students import portfolio as portfolios

if TYPE_CHECKING:
    from schema.classes.types import Class, Enrollment
    from schema.rights.types import Consent, Statement
    from schema.schools.types import School, Term

SchoolRef = Annotated["School", strawberry.lazy("schema.schools.types")]
TermRef = Annotated["Term", strawberry.lazy("schema.schools.types")]
ClassRef = Annotated["Class", strawberry.lazy("schema.classes.types")]
EnrollmentRef = Annotated["Enrollment", strawberry.lazy("schema.classes.types")]
StatementRef = Annotated["Statement", strawberry.lazy("schema.rights.types")]
ConsentRef = Annotated["Consent", strawberry.lazy("schema.rights.types")]


strawberry.enum(models.Visibility, name="PortfolioVisibility")


@strawberry.type(
    description="A student's record. Fields the viewer may not read are null, with "
    "a FORBIDDEN error naming the field class."
)
class Student(Node):
    row: strawberry.Private[Row[Any]]
    mask: strawberry.Private[int]

    @classmethod
    def from_row(cls, context: Context, row: Row[Any]) -> Student:
        return cls(
            id=to_global_id("Student", row.id),
            row=row,
            mask=context.student_mask(row.id, row.school_id),
        )

    @property
    def pk(self) -> int:
        return int(self.row.id)

    @property
    def school_id(self) -> int:
        return int(self.row.school_id)

    def _show(self, info: Info, name: str) -> bool:
        return info.context.reveal(info, self, f"Student.{name}")

    # directory
    @strawberry.field
    def first_name(self, info: Info) -> str | None:
        return self.row.first_name if self._show(info, "firstName") else None

    @strawberry.field
    def last_name(self, info: Info) -> str | None:
        return self.row.last_name if self._show(info, "lastName") else None

    @strawberry.field
    def preferred_name(self, info: Info) -> str | None:
        return self.row.preferred_name if self._show(info, "preferredName") else None

    @strawberry.field(description="Preferred or first name and the last initial.")
    def display_name(self, info: Info) -> str | None:
        if not self._show(info, "displayName"):
            return None
        return f"{self.row.preferred_name or self.row.first_name} {self.row.last_name[:1]}."

    @strawberry.field(description="0 is kindergarten, -1 pre-kindergarten.")
    def grade_level(self, info: Info) -> int | None:
        return self.row.grade_level if self._show(info, "gradeLevel") else None

    @strawberry.field
    async def school(self, info: Info) -> SchoolRef | None:
        from schema.schools.types import School

        if not self._show(info, "school"):
            return None
        row = await info.context.loaders.school.load(self.school_id)
        return School.from_row(row) if row else None

    # contact
    @strawberry.field
    def student_number(self, info: Info) -> str | None:
        return self.row.student_number if self._show(info, "studentNumber") else None

    @strawberry.field
    def email(self, info: Info) -> str | None:
        return self.row.email if self._show(info, "email") else None

    @strawberry.field
    def phone(self, info: Info) -> str | None:
        return self.row.phone if self._show(info, "phone") else None

    @strawberry.field
    async def guardians(self, info: Info) -> list[Guardian] | None:
        if not self._show(info, "guardians"):
            return None
        rows = await info.context.loaders.guardians.load(self.pk)
        return [Guardian.from_row(r) for r in rows]

    # demographic
    @strawberry.field
    def date_of_birth(self, info: Info) -> datetime.date | None:
        return self.row.date_of_birth if self._show(info, "dateOfBirth") else None

    @strawberry.field
    def gender(self, info: Info) -> str | None:
        return self.row.gender if self._show(info, "gender") else None

    @strawberry.field(description="Federal race/ethnicity category.")
    def ethnicity(self, info: Info) -> str | None:
        return self.row.ethnicity if self._show(info, "ethnicity") else None

    # academic
    def _own_classes_only(self, info: Info, name: str) -> bool | None:
        """True: only the viewer's own classes; False: everything; None: nothing."""
        own_only = info.context.academic_release(self, name)
        if own_only is None:
            info.context.redact(
                info, f"Student.{name}", "no policy line allows this relation to read it"
            )
        return own_only

    @strawberry.field(description="Marks, newest term first. A teacher sees their classes' only.")
    async def marks(self, info: Info) -> list[Mark] | None:
        own_only = self._own_classes_only(info, "marks")
        if own_only is None:
            return None
        loaders = info.context.loaders
        rows = await (loaders.taught_marks if own_only else loaders.marks).load(self.pk)
        return [Mark.from_row(r) for r in rows]

    @strawberry.field(description="Classes the student is enrolled in today.")
    async def classes(self, info: Info) -> list[ClassRef] | None:
        enrollments = await self._enrollments(info)
        if enrollments is None:
            return None
        loaded = await info.context.loaders.klass.load_many(
            [e.class_id for e in enrollments if e.active]
        )
        from schema.classes.types import Class

        return [Class.from_row(r) for r in loaded if r is not None]

    @strawberry.field(description="Enrollment history, current term first.")
    async def enrollments(self, info: Info) -> list[EnrollmentRef] | None:
        return await self._enrollments(info)

    async def _enrollments(self, info: Info) -> list[Enrollment] | None:
        from schema.classes.types import Enrollment

        own_only = self._own_classes_only(info, "classes")
        if own_only is None:
            return None
        rows = await info.context.loaders.enrollments.load(self.pk)
        return [
            Enrollment.from_row(r)
            for r in rows
            if enrollment_shown(info.context, own_only, r.class_id)
        ]

    @strawberry.field
    async def readiness(self, info: Info) -> list[ReadinessIndicator] | None:
        if not self._show(info, "readiness"):
            return None
        rows = await info.context.loaders.readiness.load(self.pk)
        return [ReadinessIndicator.from_row(r) for r in rows]

    # portfolio
    @strawberry.field(description="The items the viewer may see, by each item's visibility.")
    async def portfolio(self, info: Info) -> Portfolio | None:
        context = info.context
        if not portfolios.allowed(context, self):
            context.redact(info, "Student.portfolio", portfolios.WITHHELD)
            return None
        return await self.released_portfolio(context)

    async def released_portfolio(self, context: Context) -> Portfolio | None:
        """The portfolio with the items the viewer may see by their visibility; None when the
        student has none or the viewer may not read it (no redaction: `portfolio` makes it)."""
        if not portfolios.allowed(context, self):
            return None  # nothing to load
        portfolio = await context.loaders.portfolio.load(self.pk)
        if portfolio is None:
            return None
        rows = await context.loaders.portfolio_items.load(self.pk)
        items = portfolios.released_items(context, self, self.row, portfolio, rows)
        if items is None:
            return None
        return Portfolio(
            id=to_global_id("Portfolio", portfolio.id),
            headline=portfolio.headline,
            items=[PortfolioItem.from_row(r) for r in items],
        )

    # statements
    @strawberry.field(
        description="Statements placed in the record after an amendment was denied, newest "
        "first: each is shown to a viewer who may read at least one of the fields it contests "
        "(and the read is recorded like a read of those fields)."
    )
    async def statements(self, info: Info) -> list[StatementRef] | None:

        if not self._show(info, "statements"):
            return None
        return await self.shown_statements(info.context)

    async def shown_statements(self, context: Context) -> list[StatementRef]:
        """The statements the viewer may read (once `Student.statements` is allowed): those
        contesting a field they may read, each read recorded like a read of that field."""
        from schema.rights.types import Statement

        shown = []
        for row in await context.loaders.statements.load(self.pk):
            hits = {name: self.mask & context.decide(f"Student.{name}") for name in row.fields}
            if not any(hits.values()):
                continue
            for name, hit in hits.items():
                if hit:
                    context.record_disclosure(self, f"Student.{name}", hit)
            shown.append(Statement.from_row(row))
        return shown

    # disclosures
    @strawberry.field(description="The record of disclosures of this student (FERPA 99.32).")
    async def disclosures(self, info: Info, first: int = 100) -> list[Disclosure] | None:
        if not self._show(info, "disclosures"):
            return None
        rows = await info.context.loaders.disclosures(max(0, min(first, 1000))).load(self.pk)
        return [Disclosure.from_row(r) for r in rows]

    @strawberry.field(
        description="The consents recorded for the student and their withdrawals, newest first; "
        "`current` marks the one in force for each kind."
    )
    async def consents(self, info: Info) -> list[ConsentRef] | None:

        if not self._show(info, "consents"):
            return None
        return await self.consent_list(info.context)

    async def consent_list(self, context: Context) -> list[ConsentRef]:
        """The consents, newest first (once `Student.consents` is allowed)."""
        from schema.rights.types import Consent

        rows = await context.loaders.consents.load(self.pk)
        seen: set[str] = set()
        consents = []
        for row in rows:  # newest first: the first of each kind is in force
            consents.append(Consent.from_row(row, current=row.kind not in seen))
            seen.add(row.kind)
        return consents


def enrollment_shown(context: Context, own_only: bool, class_id: int) -> bool:
    """Whether an enrollment in `class_id` is shown, once `Student.classes` is released
    (`Context.academic_release`): all of them, or with `own_only` those of the viewer's classes."""
    viewer = context._viewer
    return not own_only or class_id in (viewer.taught_classes if viewer else frozenset())


@strawberry.type(description="A parent, guardian or relative linked to a student.")
class Guardian(Node):
    first_name: str
    last_name: str
    relationship: str
    legal_guardian: bool
    email: str | None
    phone: str | None
    link_id: strawberry.ID = strawberry.field(
        description="The GuardianLink, for administrators' `updateGuardianLink`."
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> Guardian:
        return cls(
            id=to_global_id("Guardian", row.id),
            link_id=to_global_id("GuardianLink", row.link_id),
            first_name=row.first_name,
            last_name=row.last_name,
            relationship=row.relationship,
            legal_guardian=row.legal_guardian,
            email=row.email,
            phone=row.phone,
        )


@strawberry.type(description="A student's mark in a class for a term.")
class Mark(Node):
    score: Decimal | None
    letter: str | None
    comment: str | None
    recorded_at: datetime.datetime | None
    class_id: strawberry.Private[int]
    term_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Mark:
        return cls(
            id=to_global_id("Mark", row.id),
            score=row.score,
            letter=row.letter,
            comment=row.comment,
            recorded_at=row.recorded_at,
            class_id=row.class_id,
            term_id=row.term_id,
        )

    @strawberry.field(name="class")
    async def klass(self, info: Info) -> ClassRef | None:
        from schema.classes.types import Class

        row = await info.context.loaders.klass.load(self.class_id)
        return Class.from_row(row) if row else None

    @strawberry.field
    async def term(self, info: Info) -> TermRef | None:
        from schema.schools.types import Term

        row = await info.context.loaders.term.load(self.term_id)
        return Term.from_row(row) if row else None


@strawberry.type(description="A student's career-planning portfolio.")
class Portfolio(Node):
    headline: str | None
    items: list[PortfolioItem]


@strawberry.type
class PortfolioItem(Node):
    kind: str
    title: str
    body: str | None
    visibility: models.Visibility
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    erased_at: datetime.datetime | None = strawberry.field(
        default=None,
        description="When the item's content was erased (the student's identity removed, or "
        "content collected without COPPA consent): the title is then a placeholder and the "
        "body null. The item stays, counted in reports.",
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> PortfolioItem:
        return cls(
            id=to_global_id("PortfolioItem", row.id),
            kind=row.kind,
            title=row.title,
            body=row.body,
            visibility=models.Visibility(row.visibility),
            created_at=row.created_at,
            updated_at=row.updated_at,
            erased_at=getattr(row, "erased_at", None),
        )


@strawberry.type(description="A college, career or military readiness result.")
class ReadinessIndicator(Node):
    indicator: str
    category: str
    met: bool
    value: str | None
    achieved_on: datetime.date | None
    source: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> ReadinessIndicator:
        return cls(
            id=to_global_id("ReadinessIndicator", row.id),
            indicator=row.indicator,
            category=row.category,
            met=row.met,
            value=row.value,
            achieved_on=row.achieved_on,
            source=row.source,
        )


@strawberry.type(description="One entry of a student's record of disclosures.")
class Disclosure(Node):
    viewer_user_id: strawberry.Private[int]
    student_pk: strawberry.Private[int]
    student_id: strawberry.ID = strawberry.field(
        description="The student whose record was read; present whatever the viewer may read."
    )
    basis: str
    grant_id: strawberry.ID | None
    purpose: str | None
    field_classes: list[str]
    request_id: str
    disclosed_at: datetime.datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> Disclosure:
        return cls(
            id=to_global_id("Disclosure", row.id),
            viewer_user_id=row.viewer_user_id,
            student_pk=row.student_id,
            student_id=to_global_id("Student", row.student_id),
            basis=row.basis,
            grant_id=to_global_id("LegitimateInterestGrant", row.grant_id)
            if row.grant_id
            else None,
            purpose=row.purpose,
            field_classes=list(row.field_classes),
            request_id=row.request_id,
            disclosed_at=row.disclosed_at,
        )

    @strawberry.field(description="Who read the record.")
    async def viewer_name(self, info: Info) -> str | None:
        user = await info.context.loaders.user.load(self.viewer_user_id)
        return f"{user.first_name} {user.last_name}" if user else None

    @strawberry.field(
        description="The student whose record was read, as the viewer may see them (the policy "
        "decides each field, and reads of recorded field classes are themselves recorded)."
    )
    async def student(self, info: Info) -> Student | None:
        row = await info.context.loaders.student.load(self.student_pk)
        return Student.from_row(info.context, row) if row else None

    @strawberry.field(
        description="The student's display name, when the viewer may read it (directory)."
    )
    async def student_name(self, info: Info) -> str | None:
        student = await self.student(info)
        if student is None or not student._show(info, "displayName"):
            return None
        row = student.row
        return f"{row.preferred_name or row.first_name} {row.last_name[:1]}."
