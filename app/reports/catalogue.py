"""What a report can measure and group by: the fixed catalogue its SQL is made from.

Every piece of a report's SQL comes from `METRICS` and `DIMENSIONS`, chosen by name; what a
caller supplies is always a bound parameter (see `app.reports.statement`).

```python
metric = METRICS["READINESS_RATE"]
assert metric.kind == "rate" and "INDICATOR" in metric.dimensions
```
"""

from __future__ import annotations

from dataclasses import dataclass

# CCMR indicators are recorded for juniors and seniors: they are READINESS_RATE's population.
READINESS_MIN_GRADE = 11

# Texas CCMR indicators (the `readiness_indicator.indicator` values) and their category.
INDICATORS: dict[str, str] = {
    "tsi_reading": "college",
    "tsi_math": "college",
    "ap_ib": "college",
    "dual_credit": "college",
    "industry_certification": "career",
    "military": "military",
}
INDICATOR_LABELS = {
    "tsi_reading": "TSI reading",
    "tsi_math": "TSI mathematics",
    "ap_ib": "AP/IB exam",
    "dual_credit": "Dual credit",
    "industry_certification": "Industry certification",
    "military": "Military enlistment",
}
CATEGORIES = ("college", "career", "military")


# A report is one statement of three levels:
# 1. `f`: one row per (student, detail cell) — the dimension keys, the student's id and the
#    metric's partial aggregates over that student's fact rows (`GROUP BY s.id, ...`);
# 2. `g`: those rows grouped by every subset of the dimensions (`GROUPING SETS`). When every
#    dimension is a property of the student (school, grade, gender, ethnicity) a student falls in
#    one row of each grouping set, so plain counts and sums are exact and PostgreSQL hashes all
#    the sets in one pass; dimensions of the facts (class, term, week, indicator) put a student
#    in several cells, and students are then counted distinct;
# 3. the labels (school, class and term names) joined to the cells.


@dataclass(frozen=True)
class Dimension:
    key: str  # the grouping expression
    label: tuple[str, str] | None = None  # (table, expression of its row `{t}`) keyed by id
    joins: tuple[str, ...] = ()  # names of the joins the key needs
    of_student: bool = True  # a property of the student: one value per student


@dataclass(frozen=True)
class Metric:
    """One metric: its fact rows (joined to `student s`), its partial aggregates per (cell,
    student) and the measure computed from them per cell."""

    facts: str  # joins that make the fact rows
    where: tuple[str, ...]  # conditions on them
    kind: str  # count, per_week, rate or average: how `measure` becomes the value
    dimensions: frozenset[str]
    partial: str = ""  # per (student, cell), over the student's fact rows
    single: str = ""  # the same when each student is one fact row (no GROUP BY needed)
    measure: str = "{students}"  # outer level, from the partials; {students} counts students
    counted: str | None = None  # the fact row the measure counts (to count it distinct)
    # How far apart the students' values are: their marks, their event counts. 0 when they are
    # all equal, and the cell's value then tells each student's (NULL: not known).
    spread: str = "NULL"
    # The cell's students the metric is about (those with events), when the facts are joined
    # with LEFT JOIN so that `students` counts every student of the cell: the part is the
    # cell's student count, and it and the rest must each reach the minimum.
    part: str = ""
    time: str | None = None  # the column `from`/`to` and WEEK look at
    default_window: bool = False  # event metrics always have a window
    marks: bool = False  # classes and terms come from the mark, not the student's enrollments

    @property
    def classes(self) -> tuple[str, str, str]:
        """The join that gives a fact's class and term, and their columns."""
        if self.marks:
            return "", "m.class_id", "m.term_id"
        return _ENROLLED, "e.class_id", "c.term_id"


_STUDENT_DIMENSIONS = frozenset(
    {"SCHOOL", "GRADE_LEVEL", "GRADUATION_YEAR", "GENDER", "ETHNICITY", "CLASS", "TERM"}
)
_EVENT_DIMENSIONS = _STUDENT_DIMENSIONS | {"WEEK"}

DIMENSIONS: dict[str, Dimension] = {
    "SCHOOL": Dimension("s.school_id", ("school", "{t}.name")),
    "GRADE_LEVEL": Dimension("s.grade_level"),
    "GRADUATION_YEAR": Dimension("s.grade_level"),  # labelled as a year
    "GENDER": Dimension("s.gender"),
    "ETHNICITY": Dimension("s.ethnicity"),
    "CLASS": Dimension(
        "{class_id}",
        ("class_section", "{t}.title || ' (' || {t}.code || ')'"),
        ("class",),
        of_student=False,
    ),
    "TERM": Dimension("{term_id}", ("term", "{t}.name"), ("class",), of_student=False),
    "WEEK": Dimension("date_trunc('week', {time} AT TIME ZONE 'UTC')::date", None, (), False),
    "INDICATOR": Dimension("k.indicator", None, ("indicators",), False),
    "READINESS_CATEGORY": Dimension("k.category", None, ("indicators",), False),
}

# Every student of the cell, with or without events: those without are the complement of the
# students counted (`STUDENT_COUNT` publishes them all). Their WEEK is null: such cells are
# dropped, their subtotals over weeks kept.
_EVENTS = (
    "LEFT JOIN activity_event ev ON ev.student_id = s.id AND ev.district_id = :district_id"
    " AND ev.occurred_at >= :t_from AND ev.occurred_at < :t_to"
)
_WITH_EVENTS = "{students} FILTER (WHERE n > 0)"
_EVENT_SPREAD = "max(n) FILTER (WHERE n > 0) - min(n) FILTER (WHERE n > 0)"
_PORTFOLIO_KINDS = "('portfolio_item_created', 'portfolio_item_updated')"

METRICS: dict[str, Metric] = {
    "STUDENT_COUNT": Metric("", (), "count", _STUDENT_DIMENSIONS),
    "ACTIVE_STUDENTS": Metric(
        _EVENTS,
        (),
        "count",
        _EVENT_DIMENSIONS,
        partial="count(ev.id) AS n",
        measure=_WITH_EVENTS,
        part=_WITH_EVENTS,
        time="ev.occurred_at",
        default_window=True,
    ),
    "LOGINS_PER_WEEK": Metric(
        _EVENTS + " AND ev.kind = 'login'",
        (),
        "per_week",
        _EVENT_DIMENSIONS,
        partial="count(ev.id) AS n",
        measure="sum(n)",
        part=_WITH_EVENTS,
        spread=_EVENT_SPREAD,
        counted="ev.id",
        time="ev.occurred_at",
        default_window=True,
    ),
    "PORTFOLIO_ACTIVITY_PER_WEEK": Metric(
        f"{_EVENTS} AND ev.kind IN {_PORTFOLIO_KINDS}",
        (),
        "per_week",
        _EVENT_DIMENSIONS,
        partial="count(ev.id) AS n",
        measure="sum(n)",
        part=_WITH_EVENTS,
        spread=_EVENT_SPREAD,
        counted="ev.id",
        time="ev.occurred_at",
        default_window=True,
    ),
    "PORTFOLIO_ITEMS": Metric(
        "LEFT JOIN portfolio_item pi ON pi.student_id = s.id AND pi.district_id = :district_id"
        " AND pi.created_at >= :t_from AND pi.created_at < :t_to",
        (),
        "count",
        _EVENT_DIMENSIONS,
        partial="count(pi.id) AS n",
        measure="sum(n)",
        part=_WITH_EVENTS,
        spread=_EVENT_SPREAD,
        counted="pi.id",
        time="pi.created_at",
        default_window=True,
    ),
    "READINESS_RATE": Metric(
        "",  # `r`, the students who met a counted indicator, is joined by `build_statement`
        ("s.grade_level >= :readiness_min_grade",),
        "rate",
        _STUDENT_DIMENSIONS | {"INDICATOR", "READINESS_CATEGORY"},
        partial="bool_or(r.student_id IS NOT NULL) AS met",
        single="r.student_id IS NOT NULL AS met",
        measure="{students} FILTER (WHERE met)",
        time="ri.achieved_on",
    ),
    "AVERAGE_MARK": Metric(
        "JOIN mark m ON m.student_id = s.id",
        ("m.district_id = :district_id", "m.score IS NOT NULL"),
        "average",
        _STUDENT_DIMENSIONS,
        partial="sum(m.score) AS score_sum, count(*) AS score_n, min(m.score) AS score_min,"
        " max(m.score) AS score_max",
        measure="sum(score_sum) / sum(score_n)",
        spread="max(score_max) - min(score_min)",
        time="m.recorded_at",
        marks=True,
    ),
}

_ENROLLED = "JOIN enrollment e ON e.student_id = s.id JOIN class_section c ON c.id = e.class_id"
_ENROLLED_IN = (  # the same names as _ENROLLED, in a semi-join
    "EXISTS (SELECT 1 FROM enrollment e JOIN class_section c ON c.id = e.class_id"
    " WHERE e.student_id = s.id AND {conditions})"
)
_READINESS_MET = (
    "LEFT JOIN (SELECT DISTINCT ri.student_id{indicator} FROM readiness_indicator ri"
    " WHERE ri.district_id = :district_id AND ri.met AND ri.indicator = ANY(:indicators){window}"
    ") r ON r.student_id = s.id{on}"
)
