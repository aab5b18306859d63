"""De-identified reports (SPEC §8): aggregates over students, grouped, suppressed and audited.

A report is a *metric* (what is measured) broken down by up to four *dimensions* over a *filter*
(which students, which dates). `run` computes every cell, every marginal subtotal and the grand
total in one statement, `GROUP BY GROUPING SETS` over every subset of the dimensions; `suppress`
then hides each cell resting on fewer students than the district's `min_cell_size`, and enough
others that no hidden cell can be recovered from the published totals.

Every piece of SQL comes from the fixed catalogues below (`METRICS`, `DIMENSIONS`), chosen by
name; what a caller supplies (ids, grade levels, genders, dates) is always a bound parameter.

```python
spec = ReportSpec("STUDENT_COUNT", ("SCHOOL", "GRADE_LEVEL"))
spec.validate()
report = await run(connection=connection, spec=spec, scope=report_scope(viewer))
```
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import combinations
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.keyset import Column, Keyset
from app.models import Role
from app.relations import RowScope, Viewer

# Roles that may run and save reports; school-scoped holders see their schools only (SPEC §8).
REPORT_ROLES = (Role.DISTRICT_ADMIN, Role.REPORTING, Role.SCHOOL_ADMIN, Role.COORDINATOR)

MAX_DIMENSIONS = 4  # 2^4 = 16 grouping sets
MAX_CELLS = 50_000  # beyond that the caller should filter, not page
MAX_FILTER_VALUES = 1000
MAX_WINDOW_DAYS = 366
DEFAULT_WINDOW_DAYS = 28  # event metrics without from/to: the four weeks ending today
DEFAULT_MIN_CELL_SIZE = 10
MAX_NAME_LENGTH = 120
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


class InvalidReport(ValueError):
    """A report definition that cannot be run; the message is safe to show to the caller."""

    def __init__(self, message: str, field: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.field = list(field)


class Suppression(enum.StrEnum):
    """Why a cell is withheld."""

    BELOW_MINIMUM = "BELOW_MINIMUM"  # fewer students than the district's minimum cell size
    COMPLEMENTARY = "COMPLEMENTARY"  # hidden so that another hidden cell cannot be recovered


# --- Suppression (pure) ---------------------------------------------------------------------


class _Total:
    """The marker of a rolled-up dimension in a cell key: `(TOTAL, 9)` is "all schools, grade 9"."""

    def __repr__(self) -> str:
        return "TOTAL"


TOTAL = _Total()
Key = tuple[Any, ...]


def suppress(counts: Mapping[Key, int], minimum: int) -> dict[Key, Suppression]:
    """The cells to withhold, given each cell's student count.

    `counts` holds every cell of a complete table: detail cells, all marginal subtotals and the
    grand total, keyed by one value per dimension with `TOTAL` where the cell sums over it.

    1. Primary: a cell (totals included) with fewer than `minimum` students.
    2. Complementary: a *line* is a subtotal together with the cells that vary it along one
       dimension (a row or a column with its total; with more dimensions, every such line). A
       line with exactly one hidden cell would give it away by subtraction, so the smallest
       published cell of that line is hidden too (the subtotal itself when nothing else is left).
       Repeated until every line hides none or at least two.

    >>> counts = {("a", 1): 3, ("a", 2): 20, ("a", TOTAL): 23,
    ...           ("b", 1): 30, ("b", 2): 40, ("b", TOTAL): 70,
    ...           (TOTAL, 1): 33, (TOTAL, 2): 60, (TOTAL, TOTAL): 93}
    >>> sorted(suppress(counts, 10).items(), key=str)  # doctest: +NORMALIZE_WHITESPACE
    [(('a', 1), <Suppression.BELOW_MINIMUM: 'BELOW_MINIMUM'>),
     (('a', 2), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>),
     (('b', 1), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>),
     (('b', 2), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>)]
    """
    keys = list(counts)
    size = [counts[key] for key in keys]
    index = {key: i for i, key in enumerate(keys)}
    # Cells and lines by number: line `l` has the subtotal `totals[l]` and the cells `members[l]`.
    lines: dict[tuple[int, int], int] = {}  # (axis the members vary along, subtotal) -> line
    totals: list[int] = []
    members: list[list[int]] = []
    lines_of: list[list[int]] = [[] for _ in keys]
    for i, key in enumerate(keys):
        for axis, value in enumerate(key):
            if value is TOTAL:
                continue
            total = index.get((*key[:axis], TOTAL, *key[axis + 1 :]))
            if total is None:  # nothing published to subtract from
                continue
            line = lines.get((axis, total))
            if line is None:
                line = lines[axis, total] = len(totals)
                totals.append(total)
                members.append([])
                lines_of[total].append(line)
            members[line].append(i)
            lines_of[i].append(line)

    reason: dict[int, Suppression] = {
        i: Suppression.BELOW_MINIMUM for i, n in enumerate(size) if n < minimum
    }
    hidden_in = [
        sum(i in reason for i in cells) + (totals[line] in reason)
        for line, cells in enumerate(members)
    ]
    pending = [line for line, n in enumerate(hidden_in) if n == 1]
    while pending:
        line = pending.pop()
        if hidden_in[line] != 1:
            continue
        published = [i for i in members[line] if i not in reason]
        # The smallest (ties: the first) published member, or the subtotal when none is left.
        pick = min(published, key=lambda i: (size[i], i)) if published else totals[line]
        reason[pick] = Suppression.COMPLEMENTARY
        for other in lines_of[pick]:
            hidden_in[other] += 1
            if hidden_in[other] == 1:
                pending.append(other)
    return {keys[i]: why for i, why in reason.items()}


# --- Definitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilter:
    """Which students and dates a report covers; an empty tuple means "any"."""

    school_ids: tuple[int, ...] = ()
    grade_levels: tuple[int, ...] = ()
    graduation_years: tuple[int, ...] = ()
    genders: tuple[str, ...] = ()
    ethnicities: tuple[str, ...] = ()
    class_ids: tuple[int, ...] = ()
    term_ids: tuple[int, ...] = ()
    indicators: tuple[str, ...] = ()
    readiness_categories: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None


# JSON names of the filter's fields (as in GraphQL), for saved reports and the audit record.
_FILTER_JSON = {
    "school_ids": "schoolIds",
    "grade_levels": "gradeLevels",
    "graduation_years": "graduationYears",
    "genders": "genders",
    "ethnicities": "ethnicities",
    "class_ids": "classIds",
    "term_ids": "termIds",
    "indicators": "indicators",
    "readiness_categories": "readinessCategories",
}
_INT_FILTERS = ("school_ids", "grade_levels", "graduation_years", "class_ids", "term_ids")


@dataclass(frozen=True)
class ReportSpec:
    """What to compute: a metric, the dimensions to group by (in order) and a filter."""

    metric: str
    group_by: tuple[str, ...] = ()
    filter: ReportFilter = field(default_factory=ReportFilter)

    def validate(self) -> None:
        """Raise `InvalidReport` naming the first problem (a window that only ends up too long
        with today's date, `from` without `to`, is refused when the report runs)."""
        metric = METRICS.get(self.metric)
        if metric is None:
            raise InvalidReport(f"unknown metric {self.metric!r}", ["metric"])
        if len(self.group_by) > MAX_DIMENSIONS:
            raise InvalidReport(f"group by at most {MAX_DIMENSIONS} dimensions", ["groupBy"])
        if len(set(self.group_by)) != len(self.group_by):
            raise InvalidReport("a dimension appears twice in groupBy", ["groupBy"])
        for name in self.group_by:
            if name not in DIMENSIONS:
                raise InvalidReport(f"unknown dimension {name!r}", ["groupBy"])
            if name not in metric.dimensions:
                raise InvalidReport(f"{self.metric} cannot be grouped by {name}", ["groupBy"])
        if {"GRADE_LEVEL", "GRADUATION_YEAR"} <= set(self.group_by):
            raise InvalidReport(
                "GRADE_LEVEL and GRADUATION_YEAR group the same students: use one", ["groupBy"]
            )
        self._validate_filter(metric)

    def _validate_filter(self, metric: _Metric) -> None:
        flt = self.filter
        for name, json_name in _FILTER_JSON.items():
            values = getattr(flt, name)
            if len(values) > MAX_FILTER_VALUES:
                raise InvalidReport(
                    f"at most {MAX_FILTER_VALUES} values per filter", ["filter", json_name]
                )
            if any(isinstance(v, str) and len(v) > 200 for v in values):
                raise InvalidReport("filter values are at most 200 characters", ["filter"])
        if any(not -1 <= g <= 13 for g in flt.grade_levels):
            raise InvalidReport("grade levels run from -1 (pre-K) to 13", ["filter", "gradeLevels"])
        unknown = [i for i in flt.indicators if i not in INDICATORS]
        if unknown:
            raise InvalidReport(f"unknown indicator {unknown[0]!r}", ["filter", "indicators"])
        unknown = [c for c in flt.readiness_categories if c not in CATEGORIES]
        if unknown:
            raise InvalidReport(
                f"unknown category {unknown[0]!r}", ["filter", "readinessCategories"]
            )
        if (flt.indicators or flt.readiness_categories) and self.metric != "READINESS_RATE":
            raise InvalidReport("indicator filters apply to READINESS_RATE only", ["filter"])
        if (flt.indicators or flt.readiness_categories) and not _indicators(flt):
            raise InvalidReport("no indicator is in the chosen categories", ["filter"])
        if (flt.date_from or flt.date_to) and metric.time is None:
            raise InvalidReport(
                f"{self.metric} counts today's students: from/to do not apply", ["filter", "from"]
            )
        if flt.date_from and flt.date_to:
            _check_window(flt.date_from, flt.date_to)

    def window(self, today: date) -> tuple[date, date] | None:
        """The inclusive dates the metric's events are taken from, if it looks at dates.

        Event metrics default to the `DEFAULT_WINDOW_DAYS` ending `to` (or today); marks and
        readiness results are taken from all dates unless `from` or `to` is given.
        """
        metric = METRICS[self.metric]
        start, end = self.filter.date_from, self.filter.date_to
        if metric.time is None or (not metric.default_window and not (start or end)):
            return None
        end = end or max(today, start or today)
        start = start or end - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
        _check_window(start, end)
        return start, end

    def to_json(self) -> dict[str, Any]:
        """The definition as stored in `saved_report.definition` and in the audit record."""
        flt: dict[str, Any] = {
            json_name: list(getattr(self.filter, name))
            for name, json_name in _FILTER_JSON.items()
            if getattr(self.filter, name)
        }
        if self.filter.date_from is not None:
            flt["from"] = self.filter.date_from.isoformat()
        if self.filter.date_to is not None:
            flt["to"] = self.filter.date_to.isoformat()
        return {"metric": self.metric, "groupBy": list(self.group_by), "filter": flt}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportSpec:
        """The inverse of `to_json`, validated."""
        try:
            raw = data.get("filter") or {}
            values: dict[str, Any] = {}
            for name, json_name in _FILTER_JSON.items():
                items = raw.get(json_name) or []
                kind = int if name in _INT_FILTERS else str
                if not isinstance(items, list) or not all(type(v) is kind for v in items):
                    raise InvalidReport(f"filter.{json_name} must be a list", ["filter", json_name])
                values[name] = tuple(items)
            for key, name in (("from", "date_from"), ("to", "date_to")):
                if raw.get(key) is not None:
                    values[name] = date.fromisoformat(raw[key])
            group_by = data.get("groupBy") or []
            if not isinstance(group_by, list) or not all(isinstance(d, str) for d in group_by):
                raise InvalidReport("groupBy must be a list of dimensions", ["groupBy"])
            spec = cls(str(data.get("metric")), tuple(group_by), ReportFilter(**values))
        except InvalidReport:
            raise
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidReport(f"not a report definition: {exc}") from exc
        spec.validate()
        return spec


def _check_window(start: date, end: date) -> None:
    if start > end:
        raise InvalidReport("`from` is after `to`", ["filter", "from"])
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise InvalidReport(f"the window is at most {MAX_WINDOW_DAYS} days", ["filter", "from"])


def _indicators(flt: ReportFilter) -> list[str]:
    """The indicators a readiness report counts, in catalogue order."""
    return [
        name
        for name, category in INDICATORS.items()
        if (not flt.indicators or name in flt.indicators)
        and (not flt.readiness_categories or category in flt.readiness_categories)
    ]


def school_year_end(today: date) -> int:
    """The calendar year in which the current school year ends (it starts in August)."""
    return today.year + 1 if today.month >= 8 else today.year


# --- Scope ------------------------------------------------------------------------------------


def report_scope(viewer: Viewer) -> RowScope | None:
    """The schools whose students the viewer's reports cover; None when they may run none."""
    schools: set[int] = set()
    whole = False
    for role in REPORT_ROLES:
        role_schools, district_wide = viewer.role_schools(role)
        schools |= role_schools
        whole = whole or district_wide
    if not (schools or whole):
        return None
    return RowScope(viewer.district_id, frozenset(), frozenset(schools), whole)


# --- The SQL catalogue ------------------------------------------------------------------------
#
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
class _Dimension:
    key: str  # the grouping expression
    label: tuple[str, str] | None = None  # (table, expression of its row `{t}`) keyed by id
    joins: tuple[str, ...] = ()  # names of the joins the key needs
    of_student: bool = True  # a property of the student: one value per student


@dataclass(frozen=True)
class _Metric:
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

DIMENSIONS: dict[str, _Dimension] = {
    "SCHOOL": _Dimension("s.school_id", ("school", "{t}.name")),
    "GRADE_LEVEL": _Dimension("s.grade_level"),
    "GRADUATION_YEAR": _Dimension("s.grade_level"),  # labelled as a year
    "GENDER": _Dimension("s.gender"),
    "ETHNICITY": _Dimension("s.ethnicity"),
    "CLASS": _Dimension(
        "{class_id}",
        ("class_section", "{t}.title || ' (' || {t}.code || ')'"),
        ("class",),
        of_student=False,
    ),
    "TERM": _Dimension("{term_id}", ("term", "{t}.name"), ("class",), of_student=False),
    "WEEK": _Dimension("date_trunc('week', {time} AT TIME ZONE 'UTC')::date", None, (), False),
    "INDICATOR": _Dimension("k.indicator", None, ("indicators",), False),
    "READINESS_CATEGORY": _Dimension("k.category", None, ("indicators",), False),
}

_EVENTS = "JOIN activity_event ev ON ev.student_id = s.id"
_EVENT_WINDOW = (
    "ev.district_id = :district_id",
    "ev.occurred_at >= :t_from",
    "ev.occurred_at < :t_to",
)
_PORTFOLIO_KINDS = "('portfolio_item_created', 'portfolio_item_updated')"

METRICS: dict[str, _Metric] = {
    "STUDENT_COUNT": _Metric("", (), "count", _STUDENT_DIMENSIONS),
    "ACTIVE_STUDENTS": _Metric(
        _EVENTS,
        _EVENT_WINDOW,
        "count",
        _EVENT_DIMENSIONS,
        time="ev.occurred_at",
        default_window=True,
    ),
    "LOGINS_PER_WEEK": _Metric(
        _EVENTS,
        (*_EVENT_WINDOW, "ev.kind = 'login'"),
        "per_week",
        _EVENT_DIMENSIONS,
        partial="count(*) AS n",
        measure="sum(n)",
        counted="ev.id",
        time="ev.occurred_at",
        default_window=True,
    ),
    "PORTFOLIO_ACTIVITY_PER_WEEK": _Metric(
        _EVENTS,
        (*_EVENT_WINDOW, f"ev.kind IN {_PORTFOLIO_KINDS}"),
        "per_week",
        _EVENT_DIMENSIONS,
        partial="count(*) AS n",
        measure="sum(n)",
        counted="ev.id",
        time="ev.occurred_at",
        default_window=True,
    ),
    "PORTFOLIO_ITEMS": _Metric(
        "JOIN portfolio_item pi ON pi.student_id = s.id",
        ("pi.district_id = :district_id", "pi.created_at >= :t_from", "pi.created_at < :t_to"),
        "count",
        _EVENT_DIMENSIONS,
        partial="count(*) AS n",
        measure="sum(n)",
        counted="pi.id",
        time="pi.created_at",
        default_window=True,
    ),
    "READINESS_RATE": _Metric(
        "",  # `r`, the students who met a counted indicator, is joined by `build_statement`
        ("s.grade_level >= :readiness_min_grade",),
        "rate",
        _STUDENT_DIMENSIONS | {"INDICATOR", "READINESS_CATEGORY"},
        partial="bool_or(r.student_id IS NOT NULL) AS met",
        single="r.student_id IS NOT NULL AS met",
        measure="{students} FILTER (WHERE met)",
        time="ri.achieved_on",
    ),
    "AVERAGE_MARK": _Metric(
        "JOIN mark m ON m.student_id = s.id",
        ("m.district_id = :district_id", "m.score IS NOT NULL"),
        "average",
        _STUDENT_DIMENSIONS,
        partial="sum(m.score) AS score_sum, count(*) AS score_n",
        measure="sum(score_sum) / sum(score_n)",
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


@dataclass(frozen=True)
class Statement:
    """A report's statement: SQL text (from the catalogue) and its bound parameters."""

    sql: str
    params: dict[str, Any]
    window: tuple[date, date] | None


def build_statement(spec: ReportSpec, scope: RowScope, today: date) -> Statement:
    """The one statement that computes every cell of `spec` (validated) within `scope`."""
    metric = METRICS[spec.metric]
    flt = spec.filter
    window = spec.window(today)
    dims = [DIMENSIONS[name] for name in spec.group_by]
    needs = {join for dim in dims for join in dim.joins}
    params: dict[str, Any] = {"district_id": scope.district_id, "limit": MAX_CELLS + 1}
    joins = [metric.facts] if metric.facts else []
    where = ["s.district_id = :district_id", "s.enrollment_status = 'active'", *metric.where]
    if not scope.whole_district:
        params["scope_schools"] = sorted(scope.school_ids)
        where.append("s.school_id = ANY(:scope_schools)")

    for attribute, column, name in (
        ("school_ids", "s.school_id", "f_schools"),
        ("grade_levels", "s.grade_level", "f_grades"),
        ("genders", "s.gender", "f_genders"),
        ("ethnicities", "s.ethnicity", "f_ethnicities"),
    ):
        if getattr(flt, attribute):
            params[name] = list(getattr(flt, attribute))
            where.append(f"{column} = ANY(:{name})")
    if flt.graduation_years:
        year_end = school_year_end(today)
        params["f_graduation_grades"] = [year_end + 12 - year for year in flt.graduation_years]
        where.append("s.grade_level = ANY(:f_graduation_grades)")
    where += _class_filter(flt, params, metric=metric, joined="class" in needs)

    if spec.metric == "READINESS_RATE":
        params["readiness_min_grade"] = READINESS_MIN_GRADE
        params["indicators"] = indicators = _indicators(flt)
        window_sql = ""
        if window is not None:
            window_sql = " AND ri.achieved_on BETWEEN :d_from AND :d_to"
            params["d_from"], params["d_to"] = window
        if "indicators" in needs:
            # One row per (student, indicator): each indicator's rate is over every student;
            # a subtotal across indicators counts the students who met any of them.
            params["k_categories"] = [INDICATORS[i] for i in indicators]
            joins.append(
                "CROSS JOIN unnest(CAST(:indicators AS text[]), CAST(:k_categories AS text[]))"
                " AS k(indicator, category)"
            )
            joins.append(
                _READINESS_MET.format(
                    indicator=", ri.indicator",
                    window=window_sql,
                    on=" AND r.indicator = k.indicator",
                )
            )
        else:
            joins.append(_READINESS_MET.format(indicator="", window=window_sql, on=""))
    elif window is not None:
        start, end = window
        params["t_from"] = datetime.combine(start, time(), UTC)
        params["t_to"] = datetime.combine(end + timedelta(days=1), time(), UTC)
        if not metric.default_window:  # an optional window is not in the metric's own WHERE
            where += [f"{metric.time} >= :t_from", f"{metric.time} < :t_to"]
    class_join, class_id, term_id = metric.classes
    if "class" in needs and class_join:
        joins.append(class_join)

    keys = [dim.key.format(time=metric.time, class_id=class_id, term_id=term_id) for dim in dims]
    of_students = all(dim.of_student for dim in dims)
    students = "count(*)" if of_students else "count(DISTINCT sid)"
    facts = [*(f"{key} AS k{i}" for i, key in enumerate(keys)), "s.id AS sid"]
    group_facts = ""
    if metric.counted is not None and not metric.marks and "class" in needs:
        # A student's events repeat in each of their classes: count the events distinct.
        facts.append(f"{metric.counted} AS fact")
        students, measure = "count(DISTINCT sid)", "count(DISTINCT fact)"
    else:
        if metric.facts or needs & {"class", "indicators"}:
            # Several fact rows per student: one row per student and cell.
            facts += [metric.partial] if metric.partial else []
            fact_keys = [key for key, dim in zip(keys, dims, strict=True) if not dim.of_student]
            group_facts = f"\n    GROUP BY {', '.join(['s.id', *fact_keys])}"
        else:
            facts += [metric.single] if metric.single else []
        measure = metric.measure.format(students=students)
    sets = [
        "(" + ", ".join(f"k{i}" for i in subset) + ")"
        for size in range(len(dims), -1, -1)
        for subset in combinations(range(len(dims)), size)
    ]
    grouped = [
        *(f"k{i}" for i in range(len(dims))),
        f"GROUPING({', '.join(f'k{i}' for i in range(len(dims)))}) AS rolled_up"
        if dims
        else "0 AS rolled_up",
        f"{students} AS students",
        f"{measure} AS measure",
    ]
    labelled, label_joins = [], []
    for i, dim in enumerate(dims):
        if dim.label:
            table, expression = dim.label
            labelled.append(f"k{i}, {expression.format(t=f'j{i}')} AS l{i}")
            label_joins.append(f"LEFT JOIN {table} j{i} ON j{i}.id = g.k{i}")
        else:
            labelled.append(f"k{i}, NULL AS l{i}")
    # Every fragment comes from the catalogue above; values are bound parameters.
    sql = "\n".join(
        [
            f"SELECT {', '.join([*labelled, 'rolled_up', 'students', 'measure'])} FROM (",  # noqa: S608
            f"  SELECT {', '.join(grouped)} FROM (",  # noqa: S608
            f"    SELECT {', '.join(facts)}",
            "    FROM student s",
            *(f"    {join}" for join in joins),
            "    WHERE " + "\n      AND ".join(where) + group_facts,
            "  ) f",
            f"  GROUP BY GROUPING SETS ({', '.join(sets)})",
            "  LIMIT :limit",
            ") g",
            *label_joins,
        ]
    )
    return Statement(sql, params, window)


def _class_filter(
    flt: ReportFilter, params: dict[str, Any], *, metric: _Metric, joined: bool
) -> list[str]:
    """Conditions for `classIds` and `termIds`: on the mark for marks, on the joined classes
    when grouping by class or term, else a semi-join (a student counts once, however many of
    the classes they take)."""
    _, class_id, term_id = metric.classes
    conditions = []
    if flt.class_ids:
        params["f_classes"] = list(flt.class_ids)
        conditions.append(f"{class_id} = ANY(:f_classes)")
    if flt.term_ids:
        params["f_terms"] = list(flt.term_ids)
        conditions.append(f"{term_id} = ANY(:f_terms)")
    if not conditions or metric.marks or joined:
        return conditions
    return [_ENROLLED_IN.format(conditions=" AND ".join(conditions))]


# --- Running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coordinate:
    """Where a cell sits along one dimension; `key` None means it sums over the dimension."""

    dimension: str
    key: Any  # a school, class or term id, a grade, a string, a week's Monday, or None
    label: str


@dataclass(frozen=True)
class Cell:
    coordinates: tuple[Coordinate, ...]
    value: float | None  # None when suppressed (or a rate over no students)
    student_count: int | None  # None when suppressed
    suppression: Suppression | None = None

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    @property
    def is_grand_total(self) -> bool:
        return all(c.key is None for c in self.coordinates)


@dataclass(frozen=True)
class Report:
    spec: ReportSpec
    cells: tuple[Cell, ...]  # detail cells, then subtotals, the grand total last
    min_cell_size: int
    window: tuple[date, date] | None
    generated_at: datetime

    @property
    def total(self) -> Cell:
        return self.cells[-1]


# Reports aggregate a district's rows in memory: enough for the hash tables of the grouping sets
# not to spill to disk. Local to the request's transaction.
REPORT_WORK_MEM = "32MB"


async def prepare(connection: AsyncConnection, district_id: int) -> int:
    """The district's minimum cell size; also gives the transaction the report's `work_mem`."""
    size = (
        await connection.execute(
            text(
                "SELECT min_cell_size, set_config('work_mem', :work_mem, true)"
                " FROM district WHERE id = :id"
            ),
            {"id": district_id, "work_mem": REPORT_WORK_MEM},
        )
    ).scalar_one_or_none()
    return DEFAULT_MIN_CELL_SIZE if size is None else int(size)


async def run(
    *,
    connection: AsyncConnection,
    spec: ReportSpec,
    scope: RowScope,
    today: date | None = None,
) -> Report:
    """Compute, suppress and label a (validated) report: two statements whatever its size."""
    now = datetime.now(UTC)
    today = today or now.date()
    minimum = await prepare(connection, scope.district_id)
    statement = build_statement(spec, scope, today)
    rows = (await connection.execute(text(statement.sql), statement.params)).all()
    if len(rows) > MAX_CELLS:
        raise InvalidReport(
            f"the report would have more than {MAX_CELLS} cells: filter or group by less"
        )
    cells = _cells(spec, rows, minimum=minimum, window=statement.window, today=today)
    return Report(spec, cells, minimum, statement.window, now)


def _cells(
    spec: ReportSpec,
    rows: Sequence[Row[Any]],
    *,
    minimum: int,
    window: tuple[date, date] | None,
    today: date,
) -> tuple[Cell, ...]:
    metric = METRICS[spec.metric]
    # Coordinates repeat across cells: each is made once, with its place in the order.
    made: dict[tuple[int, Any], tuple[Coordinate, tuple[Any, ...]]] = {}
    ordered = []
    for row in rows:
        key = _key(row, spec, today)
        coordinates: list[Coordinate] = []
        order = []
        for axis, value in enumerate(key):
            found = made.get((axis, value))
            if found is None:
                name = spec.group_by[axis]
                coordinate = Coordinate(
                    name, None if value is TOTAL else value, _label(name, value, row[2 * axis + 1])
                )
                found = made[axis, value] = (coordinate, _order(coordinate))
            coordinates.append(found[0])
            order.append(found[1])
        rolled = tuple(value is TOTAL for value in key)
        # Detail cells first, then subtotals, the grand total last.
        ordered.append(((sum(rolled), rolled, *order), key, coordinates, row))
    # Sorted before suppressing: the same data always hides the same cells (two runs that hid
    # different cells could be combined).
    ordered.sort(key=lambda entry: entry[0])
    hidden = suppress({key: int(row.students) for _, key, _, row in ordered}, minimum)
    week_axis = spec.group_by.index("WEEK") if "WEEK" in spec.group_by else None
    cells = []
    for _, key, coordinates, row in ordered:
        at = tuple(coordinates)
        reason = hidden.get(key)
        if reason is not None:
            cells.append(Cell(at, None, None, reason))
        else:
            week = key[week_axis] if week_axis is not None else TOTAL
            cells.append(Cell(at, _value(metric, row, window, week), int(row.students)))
    return tuple(cells)


def _key(row: Row[Any], spec: ReportSpec, today: date) -> Key:
    n = len(spec.group_by)
    rolled_up = int(row.rolled_up)
    key: list[Any] = []
    for i, name in enumerate(spec.group_by):
        if rolled_up & (1 << (n - 1 - i)):  # GROUPING() gives the first dimension the top bit
            key.append(TOTAL)
        elif name == "GRADUATION_YEAR":
            key.append(school_year_end(today) + 12 - int(row[2 * i]))
        else:
            key.append(row[2 * i])
    return tuple(key)


def _value(
    metric: _Metric, row: Row[Any], window: tuple[date, date] | None, week: Any
) -> float | None:
    students = int(row.students)
    if metric.kind == "count":
        return float(row.measure)
    if metric.kind == "rate":
        return round(int(row.measure) / students, 4) if students else None
    if metric.kind == "average":
        return None if row.measure is None else round(float(row.measure), 2)
    if window is None:  # per-week metrics always have one
        raise ValueError(f"{metric.kind} needs a window")
    start, end = window
    if isinstance(week, date):  # only the part of that week inside the window
        start, end = max(start, week), min(end, week + timedelta(days=6))
    return round(int(row.measure) / (((end - start).days + 1) / 7), 2)


def _label(dimension: str, key: Any, label: Any) -> str:
    if key is TOTAL:
        return "Total"
    if label is not None:
        return str(label)
    if dimension == "GRADE_LEVEL":
        return {-1: "Pre-kindergarten", 0: "Kindergarten"}.get(key, f"Grade {key}")
    if dimension == "GRADUATION_YEAR":
        return f"Class of {key}"
    if dimension == "WEEK":
        return f"Week of {key.isoformat()}"
    if dimension == "INDICATOR":
        return INDICATOR_LABELS.get(key, str(key))
    if dimension == "READINESS_CATEGORY":
        return f"{str(key).capitalize()} ready"
    return str(key)


def _order(c: Coordinate) -> tuple[Any, ...]:
    """Along one dimension: names alphabetically, grades, years and weeks in sequence."""
    if c.key is None:
        return (1, "", 0)
    if c.dimension in ("SCHOOL", "CLASS", "TERM"):
        return (0, c.label, c.key)
    if c.dimension == "INDICATOR":
        return (0, "", list(INDICATORS).index(c.key) if c.key in INDICATORS else 99)
    if c.dimension == "READINESS_CATEGORY":
        return (0, "", CATEGORIES.index(c.key) if c.key in CATEGORIES else 99)
    if isinstance(c.key, str):
        return (0, c.key, 0)
    return (0, "", c.key)


# --- Audit ------------------------------------------------------------------------------------


async def audit_run(
    connection: AsyncConnection,
    *,
    viewer: Viewer,
    report: Report,
    request_id: str,
    channel: str,
    saved_report_id: int | None = None,
) -> None:
    """Record who ran which report, over what, and how much of it was withheld."""
    details = {
        **report.spec.to_json(),
        "channel": channel,
        "window": [d.isoformat() for d in report.window] if report.window else None,
        "cells": len(report.cells),
        "suppressed": sum(c.suppressed for c in report.cells),
        "minCellSize": report.min_cell_size,
    }
    await writes.audit(
        connection,
        writes.Actor(viewer.user_id, viewer.district_id, request_id),
        "report.run",
        "saved_report" if saved_report_id is not None else "report",
        saved_report_id,
        details,
    )


# --- Saved reports ----------------------------------------------------------------------------

_SAVED_COLUMNS = "id, district_id, name, definition, created_by, created_at"
SAVED_ORDER = Keyset(Column("name", "name"), Column("id", "id"))


async def saved_reports(
    *, connection: AsyncConnection, district_id: int, first: int, after: tuple[Any, ...] | None
) -> Sequence[Row[Any]]:
    """Up to `first + 1` saved reports of the district, by name, after the sort key `after`."""
    params: dict[str, Any] = {"district_id": district_id, "limit": first + 1}
    where = "district_id = :district_id"
    if after is not None:
        where += f" AND {SAVED_ORDER.after(after, params)}"
    order = SAVED_ORDER.order_by
    sql = f"SELECT {_SAVED_COLUMNS} FROM saved_report WHERE {where} ORDER BY {order} LIMIT :limit"  # noqa: S608 - fixed fragments
    return (await connection.execute(text(sql), params)).all()


async def count_saved_reports(*, connection: AsyncConnection, district_id: int) -> int:
    sql = "SELECT count(*) FROM saved_report WHERE district_id = :district_id"
    return int((await connection.execute(text(sql), {"district_id": district_id})).scalar_one())


async def saved_report(
    *, connection: AsyncConnection, district_id: int, saved_id: int
) -> Row[Any] | None:
    sql = f"SELECT {_SAVED_COLUMNS} FROM saved_report WHERE id = :id AND district_id = :district_id"  # noqa: S608 - fixed fragments
    params = {"id": saved_id, "district_id": district_id}
    return (await connection.execute(text(sql), params)).first()


async def save_report(
    *,
    connection: AsyncConnection,
    viewer: Viewer,
    name: str,
    spec: ReportSpec,
    request_id: str,
) -> Row[Any]:
    """Keep a (validated) definition under a name unique in the district; audited."""
    name = name.strip()
    if not name:
        raise writes.WriteRefused("a saved report needs a name", "INVALID", "name")
    if len(name) > MAX_NAME_LENGTH:
        raise writes.WriteRefused(
            f"the name is at most {MAX_NAME_LENGTH} characters", "INVALID", "name"
        )
    row = (
        await connection.execute(
            text(
                "INSERT INTO saved_report (district_id, name, definition, created_by)"
                " VALUES (:district_id, :name, CAST(:definition AS jsonb), :user_id)"
                " ON CONFLICT ON CONSTRAINT uq_saved_report_name DO NOTHING"
                " RETURNING id, district_id, name, definition, created_by, created_at"
            ),
            {
                "district_id": viewer.district_id,
                "name": name,
                "definition": json.dumps(spec.to_json(), sort_keys=True),
                "user_id": viewer.user_id,
            },
        )
    ).first()
    if row is None:
        raise writes.WriteRefused(
            f"the district already has a saved report named {name!r}", "NAME_TAKEN", "name"
        )
    await writes.audit(
        connection,
        writes.Actor(viewer.user_id, viewer.district_id, request_id),
        "report.saved",
        "saved_report",
        row.id,
        {"name": name, **spec.to_json()},
    )
    return row


async def delete_report(
    *, connection: AsyncConnection, viewer: Viewer, saved_id: int, request_id: str
) -> Row[Any]:
    """Delete a saved report: its author may, and anyone who reports on the whole district."""
    row = await saved_report(
        connection=connection, district_id=viewer.district_id, saved_id=saved_id
    )
    if row is None:
        raise writes.WriteRefused("no such saved report", "NOT_FOUND", "id")
    scope = report_scope(viewer)
    if row.created_by != viewer.user_id and not (scope and scope.whole_district):
        raise writes.WriteRefused(
            "only its author or a district-wide report user may delete a saved report",
            "NOT_ALLOWED",
            "id",
        )
    await connection.execute(text("DELETE FROM saved_report WHERE id = :id"), {"id": saved_id})
    await writes.audit(
        connection,
        writes.Actor(viewer.user_id, viewer.district_id, request_id),
        "report.deleted",
        "saved_report",
        saved_id,
        {"name": row.name, **row.definition},
    )
    return row


def spec_of(row: Row[Any]) -> ReportSpec:
    """The definition of a saved report."""
    return ReportSpec.from_json(row.definition)
