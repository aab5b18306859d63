"""Reports publish no tiny count (SPEC §8): rates and averages are suppressed by their numerator
and its complement as well as the cell size, and what is withheld cannot be solved for from the
published cells, in GraphQL and in the CSV export alike."""

from __future__ import annotations

import csv
import io
import itertools
import random
from collections.abc import Awaitable, Callable, Iterable
from fractions import Fraction
from typing import Any

import asyncpg
import pytest

from app.config import get_settings
from app.reports import METRICS, TOTAL, Suppression, suppress
from app.reports.disclosure import discloses
from schema.cost import report_cells
from schema.relay import to_global_id
from tests.helpers import GraphQLResponse

Gql = Callable[..., Awaitable[GraphQLResponse]]
Key = tuple[Any, ...]

REPORT = """
query ($metric: ReportMetric!, $groupBy: [ReportDimension!]! = [], $filter: ReportFilter) {
  report(metric: $metric, groupBy: $groupBy, filter: $filter) {
    minCellSize
    cells { dimensions { value } value studentCount suppressed suppressionReason }
  }
}
"""

# Dimensions that are properties of the student: each student is in exactly one cell of a
# grouping, so a subtotal is the exact sum of its line and an attacker has equations to solve.
ADDITIVE = ("SCHOOL", "GRADE_LEVEL", "GENDER", "ETHNICITY")
METRIC_DIMENSIONS = {
    "STUDENT_COUNT": ("SCHOOL", "GRADE_LEVEL", "GENDER", "ETHNICITY", "CLASS", "TERM"),
    "ACTIVE_STUDENTS": ("SCHOOL", "GRADE_LEVEL", "GENDER", "ETHNICITY", "WEEK"),
    "LOGINS_PER_WEEK": ("SCHOOL", "GRADE_LEVEL", "GENDER", "WEEK", "CLASS"),
    "PORTFOLIO_ACTIVITY_PER_WEEK": ("SCHOOL", "GENDER", "ETHNICITY", "WEEK"),
    "PORTFOLIO_ITEMS": ("SCHOOL", "GRADE_LEVEL", "GENDER", "WEEK"),
    "READINESS_RATE": (
        "SCHOOL", "GRADUATION_YEAR", "GENDER", "ETHNICITY", "INDICATOR", "READINESS_CATEGORY",
    ),
    "AVERAGE_MARK": ("SCHOOL", "GRADE_LEVEL", "GENDER", "ETHNICITY", "CLASS", "TERM"),
}  # fmt: skip


async def run(gql: Gql, as_user: str, metric: str, group_by: Iterable[str], **flt: Any) -> Any:
    response = await gql(
        REPORT,
        as_user=as_user,
        variables={"metric": metric, "groupBy": list(group_by), "filter": flt or None},
    )
    return response.ok()["report"]


def key_of(cell: dict[str, Any]) -> Key:
    return tuple(TOTAL if d["value"] is None else d["value"] for d in cell["dimensions"])


def numerator(cell: dict[str, Any]) -> int:
    """A published rate times its student count: the students who met it."""
    return round(cell["value"] * cell["studentCount"])


def assert_no_tiny_count(data: dict[str, Any], metric: str) -> int:
    """No published cell rests on fewer students than the minimum, nor (for a rate) on a
    numerator or complement below it. Returns how many cells were published."""
    minimum = data["minCellSize"]
    published = [c for c in data["cells"] if not c["suppressed"]]
    for cell in published:
        assert cell["studentCount"] >= minimum, cell
        if metric == "READINESS_RATE":
            met = numerator(cell)
            assert met >= minimum and cell["studentCount"] - met >= minimum, cell
    for cell in data["cells"]:
        if cell["suppressed"]:
            assert cell["value"] is None and cell["studentCount"] is None, cell
            # One reason for every primary cause: saying which count was small would tell it.
            assert cell["suppressionReason"] in ("BELOW_MINIMUM", "COMPLEMENTARY")
    return len(published)


async def district_schools(db: asyncpg.Connection, username: str) -> list[int]:
    rows = await db.fetch(
        "SELECT s.id FROM school s JOIN app_user u ON u.district_id = s.district_id"
        " WHERE u.username = $1 ORDER BY s.id",
        username,
    )
    return [r["id"] for r in rows]


# --- Finding 5 ----------------------------------------------------------------------------------


async def test_a_rate_of_one_student_in_eighteen_is_not_published(gql, db):
    """`READINESS_RATE` by gender, ethnicity and graduating class at one school, military only,
    published 0.0556 of 18: exactly one student. Every school is tried."""
    checked = 0
    for school in await district_schools(db, "reporter"):
        data = await run(
            gql,
            "reporter",
            "READINESS_RATE",
            ("GENDER", "ETHNICITY", "GRADUATION_YEAR"),
            schoolIds=[to_global_id("School", school)],
            indicators=["MILITARY"],
        )
        checked += len(data["cells"])
        assert_no_tiny_count(data, "READINESS_RATE")
    assert checked, "the demo district has juniors and seniors"


async def test_a_rate_of_zero_or_one_is_not_published(gql):
    """A rate of 0 or 1 tells every student of the cell's result: its numerator or complement
    is zero, below any minimum."""
    data = await run(gql, "reporter", "READINESS_RATE", ("SCHOOL", "INDICATOR"))
    assert assert_no_tiny_count(data, "READINESS_RATE")
    assert all(0 < c["value"] < 1 for c in data["cells"] if not c["suppressed"])


# --- Every metric, generated groupings ----------------------------------------------------------


def groupings(metric: str, rng: random.Random) -> list[tuple[str, ...]]:
    """No grouping, every single dimension, and a few random pairs and triples."""
    dimensions = METRIC_DIMENSIONS[metric]
    found: list[tuple[str, ...]] = [(), *((d,) for d in dimensions)]
    for size in (2, 3):
        combos = [
            c
            for c in itertools.combinations(dimensions, size)
            if not {"GRADE_LEVEL", "GRADUATION_YEAR"} <= set(c)
            # Those the cost limit lets through (tests/test_report_offload.py tests the others).
            and report_cells(c) <= get_settings().max_cost // 2
        ]
        found += rng.sample(combos, min(3, len(combos)))
    return found


@pytest.mark.parametrize("metric", sorted(METRIC_DIMENSIONS))
async def test_no_published_cell_rests_on_a_tiny_count(gql, metric):
    rng = random.Random(metric)
    published = 0
    for group_by in groupings(metric, rng):
        data = await run(gql, "reporter", metric, group_by)
        published += assert_no_tiny_count(data, metric)
        additive = [d for d in group_by if d in ADDITIVE or d == "GRADUATION_YEAR"]
        if additive == list(group_by):  # every subtotal is the exact sum of its lines
            assert_nothing_solvable(data, rate=metric == "READINESS_RATE")
            if metric == "PORTFOLIO_ITEMS":  # the items, too, add up along every line
                assert_nothing_solvable(data, rate=False, of=lambda c: round(c["value"]))
    assert published, f"{metric}: some cells are large enough to publish"


@pytest.mark.parametrize(
    "group_by",
    [
        ("SCHOOL", "GENDER"),
        ("SCHOOL", "GRADUATION_YEAR"),
        ("GENDER", "ETHNICITY", "GRADUATION_YEAR"),
        ("SCHOOL", "GENDER", "GRADUATION_YEAR"),
        ("SCHOOL", "ETHNICITY", "GENDER"),
    ],
)
async def test_withheld_numerators_cannot_be_solved_for(gql, group_by):
    """An attacker writes every line (a subtotal equals the sum of its cells) for the student
    counts and for the numerators of the published rates, and solves: no withheld count, no
    withheld numerator and no withheld complement comes out."""
    data = await run(gql, "reporter", "READINESS_RATE", group_by)
    assert any(c["suppressed"] for c in data["cells"])
    assert_nothing_solvable(data, rate=True)


# --- The solver ---------------------------------------------------------------------------------


def assert_nothing_solvable(
    data: dict[str, Any],
    *,
    rate: bool,
    of: Callable[[dict[str, Any]], int] = lambda c: int(c["studentCount"]),
) -> None:
    cells = {key_of(c): c for c in data["cells"]}
    hidden = [k for k, c in cells.items() if c["suppressed"]]
    lines = table_lines(cells)
    counts = {k: of(c) for k, c in cells.items() if not c["suppressed"]}
    assert not solvable(lines, counts, hidden), "a withheld student count can be worked out"
    if rate:
        met = {k: numerator(c) for k, c in cells.items() if not c["suppressed"]}
        assert not solvable(lines, met, hidden), "a withheld numerator can be worked out"


def table_lines(cells: Iterable[Key]) -> list[tuple[Key, list[Key]]]:
    """Every line of a table: (subtotal, the cells that vary it along one dimension)."""
    found: dict[tuple[int, Key], list[Key]] = {}
    for key in cells:
        for axis, value in enumerate(key):
            if value is not TOTAL:
                found.setdefault((axis, (*key[:axis], TOTAL, *key[axis + 1 :])), []).append(key)
    return [(total, members) for (_, total), members in found.items()]


def solvable(
    lines: list[tuple[Key, list[Key]]], known: dict[Key, int], hidden: list[Key]
) -> list[Key]:
    """The hidden cells whose value follows from the lines and the known values: Gaussian
    elimination over the rationals; a cell is determined when its row reduces to itself alone.
    Absent cells are zero, which the attacker knows."""
    column = {key: i for i, key in enumerate(hidden)}
    rows: list[dict[int, Fraction]] = []
    for total, members in lines:
        row: dict[int, Fraction] = {}
        for key, sign in ((total, -1), *((m, 1) for m in members)):
            if key in column:
                row[column[key]] = row.get(column[key], Fraction(0)) + sign
        if row:
            rows.append(row)
    pivots: dict[int, dict[int, Fraction]] = {}
    for row in rows:
        for pivot_column, pivot_row in pivots.items():
            if pivot_column in row:
                factor = row[pivot_column]
                for c, v in pivot_row.items():
                    row[c] = row.get(c, Fraction(0)) - factor * v
                row = {c: v for c, v in row.items() if v}
        if not row:
            continue
        pivot = min(row)
        scale = row[pivot]
        row = {c: v / scale for c, v in row.items()}
        for other in pivots.values():
            if pivot in other:
                factor = other[pivot]
                for c, v in row.items():
                    other[c] = other.get(c, Fraction(0)) - factor * v
                for c in [c for c, v in other.items() if not v]:
                    del other[c]
        pivots[pivot] = row
    return [hidden[c] for c, row in pivots.items() if len(row) == 1]


def full_table(detail: dict[Key, int]) -> dict[Key, int]:
    full: dict[Key, int] = {}
    for key, n in detail.items():
        for rolled in itertools.product((False, True), repeat=len(key)):
            cell = tuple(TOTAL if r else v for v, r in zip(key, rolled, strict=True))
            full[cell] = full.get(cell, 0) + n
    return full


def test_the_solver_finds_what_subtraction_finds():
    counts = full_table({("A", 9): 6, ("A", 10): 7, ("B", 9): 2, ("B", 10): 8})
    lines = table_lines(counts)
    known = {k: n for k, n in counts.items() if k != ("B", 9)}
    assert solvable(lines, known, [("B", 9)]) == [("B", 9)]
    # Two cells of one row only: their sum is known, neither value is.
    hidden = [("B", 9), ("B", 10)]
    known = {k: n for k, n in counts.items() if k not in hidden}
    assert solvable(lines, known, hidden) == [("B", 9), ("B", 10)]  # the columns give them
    hidden = [("A", 9), ("A", 10), ("B", 9), ("B", 10)]
    known = {k: n for k, n in counts.items() if k not in hidden}
    assert solvable(lines, known, hidden) == []


# --- The rule on tables made by hand ------------------------------------------------------------


def test_a_small_numerator_is_withheld_with_its_complements():
    """Cells large enough whose numerator (or complement) is small are withheld as primary
    cells, and the line rule protects them like any small cell."""
    counts = full_table({("A", 9): 20, ("A", 10): 30, ("B", 9): 25, ("B", 10): 40})
    small_numerator = {("A", 9)}  # say 1 of its 20 students met the indicator
    hidden = suppress(counts, 10, primary=small_numerator)
    assert hidden[("A", 9)] is Suppression.BELOW_MINIMUM
    assert len(hidden) == 4  # A10, B9 and B10 complete the rectangle
    assert not solvable(
        table_lines(counts), {k: n for k, n in counts.items() if k not in hidden}, list(hidden)
    )


def test_subtraction_over_several_lines_is_also_prevented():
    """Hiding at least two cells per line is not enough on its own: two blocks of hidden cells
    joined by one row and one column give the joining cells away by adding and subtracting
    lines. The rule checks the whole system and withholds more until nothing is determined."""
    rng = random.Random(7)
    for _ in range(300):
        detail = {
            (a, b, c): rng.choice((0, 2, 11, 12, 15, 30, 60))
            for a in "ABC"
            for b in range(rng.randint(2, 4))
            for c in "xy"
        }
        counts = full_table({k: n for k, n in detail.items() if n})
        hidden = suppress(counts, 10)
        known = {k: n for k, n in counts.items() if k not in hidden}
        assert not solvable(table_lines(counts), known, list(hidden)), detail
    for _ in range(300):
        detail = {
            (a, b): rng.choice((0, 1, 3, 12, 20, 40))
            for a in range(rng.randint(2, 6))
            for b in range(rng.randint(2, 6))
        }
        counts = full_table({k: n for k, n in detail.items() if n})
        hidden = suppress(counts, 10)
        known = {k: n for k, n in counts.items() if k not in hidden}
        assert not solvable(table_lines(counts), known, list(hidden)), detail


# --- Averages -----------------------------------------------------------------------------------


async def test_an_average_of_equal_marks_is_not_published(gql, db):
    """Twelve students of one class, every mark 88: the average tells each student's mark.
    The class's cell is withheld although it rests on more students than the minimum."""
    district = int(
        await db.fetchval("SELECT district_id FROM app_user WHERE username = 'reporter'")
    )
    class_row = await db.fetchrow(
        "SELECT m.class_id FROM mark m JOIN student s ON s.id = m.student_id"
        " WHERE m.district_id = $1 AND m.score IS NOT NULL AND s.enrollment_status = 'active'"
        " GROUP BY m.class_id HAVING count(DISTINCT m.student_id) >= 12"
        " ORDER BY m.class_id LIMIT 1",
        district,
    )
    assert class_row is not None, "the demo district has a class with a dozen marked students"
    class_id = class_row["class_id"]
    saved = await db.fetch(
        "SELECT id, score FROM mark WHERE class_id = $1 AND score IS NOT NULL", class_id
    )
    try:
        await db.execute(
            "UPDATE mark SET score = 88 WHERE class_id = $1 AND score IS NOT NULL",
            class_id,
        )
        data = await run(
            gql,
            "reporter",
            "AVERAGE_MARK",
            ("CLASS",),
            classIds=[to_global_id("Class", class_id)],
        )
        cell = next(c for c in data["cells"] if c["dimensions"][0]["value"] is not None)
        assert cell["suppressed"] and cell["value"] is None, cell
        assert data["cells"][-1]["suppressed"]  # the total is the same students' marks
    finally:
        await db.executemany(
            "UPDATE mark SET score = $2 WHERE id = $1", [(m["id"], m["score"]) for m in saved]
        )


# --- CSV export ---------------------------------------------------------------------------------


async def test_csv_export_follows_the_same_rule(client, token_for, gql, db):
    token = await token_for("reporter")
    schools = await district_schools(db, "reporter")
    for school in schools:
        params = [
            ("metric", "READINESS_RATE"),
            ("groupBy", "GENDER,ETHNICITY,GRADUATION_YEAR"),
            ("schoolIds", to_global_id("School", school)),
            ("indicators", "MILITARY"),
        ]
        response = await client.get(
            "/reports/export.csv", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.text)))
        data = await run(
            gql,
            "reporter",
            "READINESS_RATE",
            ("GENDER", "ETHNICITY", "GRADUATION_YEAR"),
            schoolIds=[to_global_id("School", school)],
            indicators=["MILITARY"],
        )
        minimum = data["minCellSize"]
        assert len(rows) == len(data["cells"])
        for row, cell in zip(rows, data["cells"], strict=True):
            assert (row["suppressed"] == "true") == cell["suppressed"]
            if row["suppressed"] == "true":
                assert row["value"] == row["student_count"] == ""
                continue
            students = int(row["student_count"])
            met = round(float(row["value"]) * students)
            assert students >= minimum and met >= minimum and students - met >= minimum, row


# --- A count of some of the cell's students -----------------------------------------------------


async def test_students_with_events_leave_no_small_remainder_without(gql, db):
    """`STUDENT_COUNT` publishes each cell's students: the students with events (active, who
    logged in, who edited or created portfolio items) of the same grouping must not leave fewer
    than the minimum without (25 active of 26 tells one was not)."""
    district = int(
        await db.fetchval("SELECT district_id FROM app_user WHERE username = 'reporter'")
    )
    rows = await db.fetch(
        "SELECT school_id, grade_level, gender, count(*) AS n FROM student"
        " WHERE district_id = $1 AND enrollment_status = 'active'"
        " GROUP BY GROUPING SETS ((school_id, grade_level, gender), (school_id, grade_level),"
        " (school_id), (grade_level), (gender), ())",
        district,
    )
    population: dict[Key, int] = {}
    for r in rows:
        school = to_global_id("School", r["school_id"]) if r["school_id"] else None
        grade = None if r["grade_level"] is None else str(r["grade_level"])
        population[school, grade, r["gender"]] = r["n"]
    published = 0
    # Nearly every demo student is active over four weeks, so the remainder is small except
    # week by week: the weekly cells are what gets published.
    for metric, group_by in itertools.product(
        ("ACTIVE_STUDENTS", "LOGINS_PER_WEEK", "PORTFOLIO_ACTIVITY_PER_WEEK", "PORTFOLIO_ITEMS"),
        (("SCHOOL", "GRADE_LEVEL"), ("SCHOOL", "WEEK"), ("GENDER", "WEEK"), ("GENDER",), ()),
    ):
        data = await run(gql, "reporter", metric, group_by)
        minimum = data["minCellSize"]
        for cell in data["cells"]:
            if cell["suppressed"]:
                continue
            at = dict(zip(group_by, (d["value"] for d in cell["dimensions"]), strict=True))
            everyone = population[at.get("SCHOOL"), at.get("GRADE_LEVEL"), at.get("GENDER")]
            assert cell["studentCount"] >= minimum, cell
            if metric == "ACTIVE_STUDENTS":
                assert cell["value"] == cell["studentCount"]
            assert everyone - cell["studentCount"] >= minimum, (metric, group_by, cell, everyone)
            published += 1
    assert published, "some cells leave enough students without events to publish"


def test_what_each_metric_withholds():
    """The primary rule, metric by metric (minimum 10)."""

    def withheld(
        metric: str, students: int, measure: Any = 0, spread: Any = None, part: Any = None
    ) -> bool:
        return discloses(
            METRICS[metric],
            students=students,
            measure=measure,
            part=part,
            spread=spread,
            minimum=10,
        )

    assert withheld("STUDENT_COUNT", 9) and not withheld("STUDENT_COUNT", 10)
    # A rate: its students, those who met it, those who did not.
    assert withheld("READINESS_RATE", 18, measure=1)  # finding 5: 0.0556 of 18
    assert withheld("READINESS_RATE", 40, measure=0) and withheld("READINESS_RATE", 40, 40)
    assert withheld("READINESS_RATE", 19, measure=10)  # 9 did not
    assert not withheld("READINESS_RATE", 20, measure=10)
    # Students with events: those of the cell without any are the complement.
    assert withheld("ACTIVE_STUDENTS", 30, measure=25, part=25)
    assert not withheld("ACTIVE_STUDENTS", 30, measure=20, part=20)
    assert withheld("LOGINS_PER_WEEK", 30, measure=90, part=22, spread=4)  # 8 never logged in
    assert withheld("LOGINS_PER_WEEK", 30, measure=30, part=9, spread=4)
    assert not withheld("LOGINS_PER_WEEK", 30, measure=90, part=20, spread=4)
    # An average, or a sum of events, whose students' values are all equal.
    assert withheld("AVERAGE_MARK", 25, measure=88, spread=0)
    assert not withheld("AVERAGE_MARK", 25, measure=88, spread=3)
    assert withheld("PORTFOLIO_ITEMS", 30, measure=12, part=12, spread=0)
