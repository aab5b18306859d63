"""Running a report: the statement, then each cell's value, suppression and label.

```python
report = await run(connection=connection, spec=spec, scope=report_scope(viewer))
print(report.total.value, report.total.student_count)
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.offload import WorkerPool
from app.relations import RowScope
from app.reports.catalogue import (
    CATEGORIES,
    DIMENSIONS,
    INDICATOR_LABELS,
    INDICATORS,
    METRICS,
    Metric,
)
from app.reports.definitions import MAX_CELLS, InvalidReport, ReportSpec, school_year_end
from app.reports.disclosure import discloses
from app.reports.statement import MAX_PART_ROWS, build_parts_statement, build_statement
from app.reports.suppression import TOTAL, Key, Suppression, suppress

DEFAULT_MIN_CELL_SIZE = 10

# Suppression and the building of cells are pure Python: tens of thousands of cells hold the CPU
# for seconds, which on the event loop would stall every other request, `/healthz` included. They
# run in this pool's thread instead. One thread: the work holds the GIL, so a second would only
# interleave two reports. Reports waiting their turn each hold a database connection, so the
# connection pool bounds how many wait.
CELLS = WorkerPool("report-cells", workers=1)


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
    parts: Sequence[Row[Any]] = ()
    parts_statement = build_parts_statement(spec, scope, today)
    if parts_statement is not None:
        parts = (await connection.execute(text(parts_statement.sql), parts_statement.params)).all()
        if len(parts) > MAX_PART_ROWS:
            raise InvalidReport("the report's filter has too many values to check: filter less")
    cells = await CELLS.run(
        _cells, spec, rows, parts, minimum=minimum, window=statement.window, today=today
    )
    return Report(spec, cells, minimum, statement.window, now)


def _cells(
    spec: ReportSpec,
    rows: Sequence[Row[Any]],
    parts: Sequence[Row[Any]] = (),
    *,
    minimum: int,
    window: tuple[date, date] | None,
    today: date,
) -> tuple[Cell, ...]:
    metric = METRICS[spec.metric]
    # Coordinates repeat across cells: each is made once, with its place in the order.
    made: dict[tuple[int, Any], tuple[Coordinate, tuple[Any, ...]]] = {}
    week_axis = spec.group_by.index("WEEK") if "WEEK" in spec.group_by else None
    ordered = []
    for row in rows:
        key = _key(row, spec, today)
        if week_axis is not None and key[week_axis] is None:
            continue  # students without events in the window: only in subtotals over weeks
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
    everyone = {key: int(row.students) for _, key, _, row in ordered}
    counts = {key: int(row.part) if metric.part else everyone[key] for _, key, _, row in ordered}
    # The students a part is taken from: in a week's cell, those of its subtotal over weeks
    # (students without events in the window have no week).
    within = week_axis if metric.part else None
    primary = _disclosing(metric, {key: row for _, key, _, row in ordered}, within, minimum)
    # A filter is a grouping for suppression: a cell is published only when each of its parts
    # along every filtered dimension (d = x, for every x, filtered or not) could be published
    # too. Then adding, removing or dropping a filter's values changes the cell by parts that
    # each reach the minimum, and two such reports cannot be differenced down to a few students.
    by_part: dict[Key, Row[Any]] = {}
    for row in parts:
        key = _key(row, spec, today)
        if week_axis is not None and key[week_axis] is None:
            continue
        by_part[(row.part_dim, row.part_key, *key)] = row
    shifted = None if within is None else within + 2
    primary |= {key[2:] for key in _disclosing(metric, by_part, shifted, minimum)}
    # Subtotals that are not the sum of their line: a student (or event) in several classes,
    # terms or indicators counts once; active students once however many weeks.
    loose = [
        axis
        for axis, name in enumerate(spec.group_by)
        if not DIMENSIONS[name].of_student and not (name == "WEEK" and metric.counted)
    ]
    hidden = suppress(counts, minimum, primary=primary, loose=loose)
    cells = []
    for _, key, coordinates, row in ordered:
        at = tuple(coordinates)
        reason = hidden.get(key)
        if reason is not None:
            cells.append(Cell(at, None, None, reason))
        else:
            week = key[week_axis] if week_axis is not None else TOTAL
            cells.append(Cell(at, _value(metric, row, window, week), counts[key]))
    return tuple(cells)


def _disclosing(
    metric: Metric, rows: dict[Key, Row[Any]], within: int | None, minimum: int
) -> set[Key]:
    """The keys whose row would tell something about fewer than `minimum` students.

    Along `within` (the week of an event metric), a row's students are those of its subtotal
    over that axis: students without events in the window have no week.
    """
    everyone = {key: int(row.students) for key, row in rows.items()}
    return {
        key
        for key, row in rows.items()
        if discloses(
            metric,
            students=everyone.get(key if within is None else _swap(key, within, TOTAL), 0),
            measure=row.measure,
            part=row.part,
            spread=row.spread,
            minimum=minimum,
        )
    }


def _swap(key: Key, axis: int, value: Any) -> Key:
    return (*key[:axis], value, *key[axis + 1 :])


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
    metric: Metric, row: Row[Any], window: tuple[date, date] | None, week: Any
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
