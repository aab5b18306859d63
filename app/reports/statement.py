"""The one SQL statement that computes every cell of a report, from the catalogue.

```python
statement = build_statement(spec, scope, today)
rows = (await connection.execute(text(statement.sql), statement.params)).all()
```
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import combinations
from typing import Any

from app.relations import RowScope
from app.reports.catalogue import (
    _ENROLLED_IN,
    _READINESS_MET,
    DIMENSIONS,
    INDICATORS,
    METRICS,
    READINESS_MIN_GRADE,
    Metric,
)
from app.reports.definitions import (
    MAX_CELLS,
    ReportFilter,
    ReportSpec,
    counted_indicators,
    school_year_end,
)

# What the statement gives for each cell besides its keys and labels.
_CELL_COLUMNS = ("rolled_up", "students", "measure", "part", "spread")


@dataclass(frozen=True)
class Statement:
    """A report's statement: SQL text (from the catalogue) and its bound parameters."""

    sql: str
    params: dict[str, Any]
    window: tuple[date, date] | None


def build_statement(
    spec: ReportSpec, scope: RowScope, today: date, *, fixed_last: bool = False
) -> Statement:
    """The one statement that computes every cell of `spec` (validated) within `scope`.

    With `fixed_last`, the last dimension is never rolled up: every grouping set holds it (the
    parts of each cell along that dimension, see `build_parts_statement`).
    """
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
        params["indicators"] = indicators = counted_indicators(flt)
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
    spread = metric.spread
    if metric.counted is not None and not metric.marks and "class" in needs:
        # A student's events repeat in each of their classes: count the events distinct.
        facts.append(f"{metric.counted} AS fact")
        students, measure = "count(DISTINCT sid)", "count(DISTINCT fact)"
        spread = "NULL"  # no count per student here
        part = "count(DISTINCT sid) FILTER (WHERE fact IS NOT NULL)" if metric.part else "NULL"
    else:
        if metric.facts or needs & {"class", "indicators"}:
            # Several fact rows per student: one row per student and cell.
            facts += [metric.partial] if metric.partial else []
            fact_keys = [key for key, dim in zip(keys, dims, strict=True) if not dim.of_student]
            group_facts = f"\n    GROUP BY {', '.join(['s.id', *fact_keys])}"
        else:
            facts += [metric.single] if metric.single else []
        measure = metric.measure.format(students=students)
        part = metric.part.format(students=students) if metric.part else "NULL"
    rolled = len(dims) - 1 if fixed_last else len(dims)
    fixed = (rolled,) if fixed_last else ()
    sets = [
        "(" + ", ".join(f"k{i}" for i in (*subset, *fixed)) + ")"
        for size in range(rolled, -1, -1)
        for subset in combinations(range(rolled), size)
    ]
    grouped = [
        *(f"k{i}" for i in range(len(dims))),
        f"GROUPING({', '.join(f'k{i}' for i in range(len(dims)))}) AS rolled_up"
        if dims
        else "0 AS rolled_up",
        f"{students} AS students",
        f"{measure} AS measure",
        f"{part} AS part",
        f"{spread} AS spread",
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
            f"SELECT {', '.join([*labelled, *_CELL_COLUMNS])} FROM (",  # noqa: S608
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
    flt: ReportFilter, params: dict[str, Any], *, metric: Metric, joined: bool
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


# Filters on a dimension a student has one value of (or, for classes and terms, that the
# student or the mark is in), by the dimension whose parts a filtered report is checked on.
# Graduation years are grades: both filters are on `s.grade_level`.
FILTERED_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "SCHOOL": ("school_ids",),
    "GRADE_LEVEL": ("grade_levels", "graduation_years"),
    "GENDER": ("genders",),
    "ETHNICITY": ("ethnicities",),
    "CLASS": ("class_ids",),
    "TERM": ("term_ids",),
}
# Rows the parts statement may return: each cell times the values of each filtered dimension.
MAX_PART_ROWS = 250_000


def filtered_dimensions(flt: ReportFilter) -> list[str]:
    """The dimensions `flt` narrows, whose parts decide what a filtered report publishes."""
    return [
        name
        for name, attributes in FILTERED_DIMENSIONS.items()
        if any(getattr(flt, attribute) for attribute in attributes)
    ]


def build_parts_statement(spec: ReportSpec, scope: RowScope, today: date) -> Statement | None:
    """One statement giving, for every cell of `spec` and every dimension d its filter narrows,
    the cell's parts along d: the cell under the other filters with d = x, for every value x of
    d in the scope (not only the filtered ones). None when no such filter is given.

    Each row is `k0, l0, ..., part_dim, part_key, rolled_up, students, measure, part, spread`:
    the cell's keys (labels NULL), the index of d in `filtered_dimensions`, x as text, and the
    same columns as a report cell, so `app.reports.disclosure` judges a part like a cell.
    """
    names = filtered_dimensions(spec.filter)
    if not names:
        return None
    selects: list[str] = []
    params: dict[str, Any] = {}
    n = len(spec.group_by)
    for index, name in enumerate(names):
        cleared: dict[str, Any] = {a: () for a in FILTERED_DIMENSIONS[name]}
        without = replace(spec.filter, **cleared)
        parts_spec = replace(spec, group_by=(*spec.group_by, name), filter=without)
        statement = build_statement(parts_spec, scope, today, fixed_last=True)
        for key, value in statement.params.items():
            if key in params and params[key] != value:  # pragma: no cover - same filter values
                raise ValueError(f"parameter {key} differs between parts")
            params[key] = value
        keys = "".join(f"p.k{i}, NULL AS l{i}, " for i in range(n))
        selects.append(
            f"SELECT {keys}{index} AS part_dim, CAST(p.k{n} AS text) AS part_key,"  # noqa: S608
            " p.rolled_up >> 1 AS rolled_up, p.students, p.measure, p.part, p.spread"
            f" FROM (\n{statement.sql}\n) p"
        )
    params["limit"] = MAX_PART_ROWS + 1
    window = spec.window(today)
    return Statement("\nUNION ALL\n".join(selects), params, window)
