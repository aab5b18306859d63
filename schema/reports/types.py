"""Reports: metrics, dimensions, the filter, cells, and saved report views (SPEC §8).

Nothing here reaches a student: a report is cells of counts, rates and averages, each with the
number of students behind it, and cells resting on too few students are withheld.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from app import reports
from schema.context import Info
from schema.people.types import StaffMember
from schema.relay import from_global_id, to_global_id


@strawberry.enum(description="What a report measures in each cell.")
class ReportMetric(enum.Enum):
    STUDENT_COUNT = strawberry.enum_value(
        "STUDENT_COUNT", description="Students (enrolled today) in the cell."
    )
    ACTIVE_STUDENTS = strawberry.enum_value(
        "ACTIVE_STUDENTS",
        description="Students with any login or portfolio activity in the window.",
    )
    LOGINS_PER_WEEK = strawberry.enum_value(
        "LOGINS_PER_WEEK",
        description="Student logins per week of the window; in a WEEK cell, that week's "
        "logins (scaled up when only part of the week is in the window).",
    )
    PORTFOLIO_ACTIVITY_PER_WEEK = strawberry.enum_value(
        "PORTFOLIO_ACTIVITY_PER_WEEK",
        description="Portfolio items created or updated per week of the window.",
    )
    PORTFOLIO_ITEMS = strawberry.enum_value(
        "PORTFOLIO_ITEMS", description="Portfolio items created in the window."
    )
    READINESS_RATE = strawberry.enum_value(
        "READINESS_RATE",
        description="Share (0 to 1) of juniors and seniors who met a counted college, career "
        "or military readiness indicator: any of them, or each one when grouped by INDICATOR.",
    )
    AVERAGE_MARK = strawberry.enum_value(
        "AVERAGE_MARK", description="Mean numeric mark (0 to 100) of the cell's marks."
    )


@strawberry.enum(description="How a report is broken down.")
class ReportDimension(enum.Enum):
    SCHOOL = "SCHOOL"
    GRADE_LEVEL = "GRADE_LEVEL"
    GRADUATION_YEAR = strawberry.enum_value(
        "GRADUATION_YEAR", description="The year a student's grade graduates (12th grade ends)."
    )
    GENDER = "GENDER"
    ETHNICITY = "ETHNICITY"
    CLASS = strawberry.enum_value(
        "CLASS", description="Classes the students are enrolled in (for marks: the mark's class)."
    )
    TERM = strawberry.enum_value("TERM", description="The term of those classes.")
    WEEK = strawberry.enum_value(
        "WEEK", description="Week of the activity, Monday to Sunday (UTC); activity metrics only."
    )
    INDICATOR = strawberry.enum_value("INDICATOR", description="READINESS_RATE only.")
    READINESS_CATEGORY = strawberry.enum_value(
        "READINESS_CATEGORY", description="College, career or military; READINESS_RATE only."
    )


@strawberry.enum(description="A college, career or military readiness indicator (Texas CCMR).")
class ReadinessIndicatorKind(enum.Enum):
    TSI_READING = "tsi_reading"
    TSI_MATH = "tsi_math"
    AP_IB = "ap_ib"
    DUAL_CREDIT = "dual_credit"
    INDUSTRY_CERTIFICATION = "industry_certification"
    MILITARY = "military"


@strawberry.enum(description="The kind of readiness an indicator shows.")
class ReadinessCategory(enum.Enum):
    COLLEGE = "college"
    CAREER = "career"
    MILITARY = "military"


@strawberry.enum(description="Why a cell's value is withheld.")
class SuppressionReason(enum.Enum):
    BELOW_MINIMUM = strawberry.enum_value(
        "BELOW_MINIMUM",
        description="The cell would tell something about fewer students than the district's "
        "minimum cell size (`minCellSize`): its students, a rate's numerator or complement, "
        "or values all equal. Which one is not said, as that would tell it.",
    )
    COMPLEMENTARY = strawberry.enum_value(
        "COMPLEMENTARY",
        description="Withheld so that no other withheld cell can be worked out from the "
        "published cells and totals.",
    )


_FROM = "Activity, portfolio items, marks and readiness results on or after this date."
_TO = "... on or before this date. Activity metrics default to the 28 days ending `to` or today."


@strawberry.input(
    description="Which students and dates a report covers. Every given condition must hold; "
    "a null or empty list means any."
)
class ReportFilter:
    school_ids: list[strawberry.ID] | None = None
    grade_levels: list[int] | None = None
    graduation_years: list[int] | None = None
    genders: list[str] | None = None
    ethnicities: list[str] | None = None
    class_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Students enrolled in any of these classes (marks: in them)."
    )
    term_ids: list[strawberry.ID] | None = None
    indicators: list[ReadinessIndicatorKind] | None = strawberry.field(
        default=None, description="READINESS_RATE: count only these indicators."
    )
    readiness_categories: list[ReadinessCategory] | None = strawberry.field(
        default=None, description="READINESS_RATE: count only indicators of these categories."
    )
    from_: datetime.date | None = strawberry.field(default=None, name="from", description=_FROM)
    to: datetime.date | None = strawberry.field(default=None, description=_TO)

    def to_app(self) -> reports.ReportFilter:
        """The filter with ids decoded (a malformed id, or one of another type, is bad input)."""
        return reports.ReportFilter(
            school_ids=_pks(self.school_ids, "School"),
            grade_levels=tuple(self.grade_levels or ()),
            graduation_years=tuple(self.graduation_years or ()),
            genders=tuple(self.genders or ()),
            ethnicities=tuple(self.ethnicities or ()),
            class_ids=_pks(self.class_ids, "Class"),
            term_ids=_pks(self.term_ids, "Term"),
            indicators=tuple(i.value for i in self.indicators or ()),
            readiness_categories=tuple(c.value for c in self.readiness_categories or ()),
            date_from=self.from_,
            date_to=self.to,
        )


def _pks(ids: Iterable[str] | None, type_name: str) -> tuple[int, ...]:
    return tuple(from_global_id(i, type_name)[1] for i in ids or ())


@strawberry.type(description="The filter a report was computed with.")
class ReportFilterValues:
    school_ids: list[strawberry.ID]
    grade_levels: list[int]
    graduation_years: list[int]
    genders: list[str]
    ethnicities: list[str]
    class_ids: list[strawberry.ID]
    term_ids: list[strawberry.ID]
    indicators: list[ReadinessIndicatorKind]
    readiness_categories: list[ReadinessCategory]
    from_: datetime.date | None = strawberry.field(name="from")
    to: datetime.date | None

    @classmethod
    def of(cls, flt: reports.ReportFilter) -> ReportFilterValues:
        return cls(
            school_ids=[to_global_id("School", pk) for pk in flt.school_ids],
            grade_levels=list(flt.grade_levels),
            graduation_years=list(flt.graduation_years),
            genders=list(flt.genders),
            ethnicities=list(flt.ethnicities),
            class_ids=[to_global_id("Class", pk) for pk in flt.class_ids],
            term_ids=[to_global_id("Term", pk) for pk in flt.term_ids],
            indicators=[ReadinessIndicatorKind(i) for i in flt.indicators],
            readiness_categories=[ReadinessCategory(c) for c in flt.readiness_categories],
            from_=flt.date_from,
            to=flt.date_to,
        )


def to_spec(
    metric: ReportMetric, group_by: Iterable[ReportDimension], flt: ReportFilter | None
) -> reports.ReportSpec:
    """The app's report definition, validated (`InvalidReport` says what is wrong)."""
    spec = reports.ReportSpec(
        metric.name,
        tuple(d.name for d in group_by),
        flt.to_app() if flt else reports.ReportFilter(),
    )
    spec.validate()
    return spec


# Dimensions whose values are ids of objects, given to callers as global ids.
_ID_TYPES = {"SCHOOL": "School", "CLASS": "Class", "TERM": "Term"}


def coordinate_value(coordinate: reports.Coordinate) -> str | None:
    """A coordinate's value as the API shows it (global ids, ISO dates, enum names)."""
    key = coordinate.key
    if key is None:
        return None
    if coordinate.dimension in _ID_TYPES:
        return to_global_id(_ID_TYPES[coordinate.dimension], key)
    if coordinate.dimension == "INDICATOR":
        return ReadinessIndicatorKind(key).name
    if coordinate.dimension == "READINESS_CATEGORY":
        return ReadinessCategory(key).name
    if isinstance(key, datetime.date):
        return key.isoformat()
    return str(key)


@strawberry.type(description="Where a cell sits along one dimension.")
class ReportCoordinate:
    dimension: ReportDimension
    value: str | None = strawberry.field(
        description="A School, Class or Term id; a grade level; a graduation year; a gender or "
        "ethnicity; a week's Monday (ISO date); an indicator or category name. Null in a "
        "subtotal over this dimension."
    )
    label: str = strawberry.field(description="A readable name; `Total` in a subtotal.")
    is_total: bool = strawberry.field(description="The cell sums over this dimension.")


@strawberry.type(
    description="One cell: a combination of dimension values, a subtotal over some of them, or "
    "the grand total (every dimension `isTotal`)."
)
class ReportCell:
    dimensions: list[ReportCoordinate] = strawberry.field(
        description="One per `groupBy` dimension, in that order."
    )
    value: float | None = strawberry.field(description="Null when suppressed.")
    student_count: int | None = strawberry.field(
        description="The students the value is computed from; null when suppressed."
    )
    suppressed: bool
    suppression_reason: SuppressionReason | None


@strawberry.type(
    description="A de-identified aggregate: every cell, every subtotal and the grand total, "
    "with small cells withheld."
)
class Report:
    metric: ReportMetric
    group_by: list[ReportDimension]
    filter: ReportFilterValues
    min_cell_size: int = strawberry.field(
        description="The district's minimum: no published cell tells something about fewer "
        "students (see `SuppressionReason`)."
    )
    from_: datetime.date | None = strawberry.field(
        name="from", description="First day of the data taken (metrics that look at dates)."
    )
    to: datetime.date | None = strawberry.field(description="Last day of the data taken.")
    generated_at: datetime.datetime
    cells: list[ReportCell] = strawberry.field(
        description="Detail cells first, then subtotals; the grand total last."
    )
    total: ReportCell = strawberry.field(description="The grand total (also the last cell).")
    suppressed_count: int

    @classmethod
    def of(cls, report: reports.Report) -> Report:
        coordinates: dict[reports.Coordinate, ReportCoordinate] = {}
        cells = []
        for cell in report.cells:
            at = []
            for c in cell.coordinates:
                found = coordinates.get(c)
                if found is None:
                    found = coordinates[c] = ReportCoordinate(
                        dimension=ReportDimension[c.dimension],
                        value=coordinate_value(c),
                        label=c.label,
                        is_total=c.key is None,
                    )
                at.append(found)
            reason = cell.suppression
            cells.append(
                ReportCell(
                    dimensions=at,
                    value=cell.value,
                    student_count=cell.student_count,
                    suppressed=reason is not None,
                    suppression_reason=SuppressionReason[reason.name] if reason else None,
                )
            )
        spec, window = report.spec, report.window
        return cls(
            metric=ReportMetric[spec.metric],
            group_by=[ReportDimension[d] for d in spec.group_by],
            filter=ReportFilterValues.of(spec.filter),
            min_cell_size=report.min_cell_size,
            from_=window[0] if window else None,
            to=window[1] if window else None,
            generated_at=report.generated_at,
            cells=cells,
            total=cells[-1],
            suppressed_count=sum(c.suppressed for c in cells),
        )


@strawberry.type(description="A report definition kept on the server, shared in the district.")
class SavedReport:
    id: strawberry.ID
    name: str
    metric: ReportMetric
    group_by: list[ReportDimension]
    filter: ReportFilterValues
    created_at: datetime.datetime
    pk: strawberry.Private[int]
    spec: strawberry.Private[reports.ReportSpec]
    created_by_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> SavedReport:
        spec = reports.spec_of(row)
        return cls(
            id=to_global_id("SavedReport", row.id),
            name=row.name,
            metric=ReportMetric[spec.metric],
            group_by=[ReportDimension[d] for d in spec.group_by],
            filter=ReportFilterValues.of(spec.filter),
            created_at=row.created_at,
            pk=row.id,
            spec=spec,
            created_by_id=row.created_by,
        )

    @strawberry.field
    async def created_by(self, info: Info) -> StaffMember | None:
        row = await info.context.loaders.user.load(self.created_by_id)
        return StaffMember.from_row(row) if row else None

    @strawberry.field(description="Compute the report now, within the viewer's own scope.")
    async def run(self, info: Info) -> Report:
        from schema.reports.queries import run_report

        report = await run_report(info.context, self.spec, channel="graphql", saved_id=self.pk)
        return Report.of(report)
