"""Two reports that differ by one filter value, or by one filter, cannot be differenced down to a
few students (docs/reports.md, "Filters"): a filter is a grouping for suppression."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from schema.relay import to_global_id
from tests.helpers import GraphQLResponse

Gql = Callable[..., Awaitable[GraphQLResponse]]

REPORT = """
query ($metric: ReportMetric!, $groupBy: [ReportDimension!]! = [], $filter: ReportFilter) {
  report(metric: $metric, groupBy: $groupBy, filter: $filter) {
    minCellSize
    cells { dimensions { value } value studentCount suppressed }
  }
}
"""


async def report(gql: Gql, user: str, metric: str, group_by: tuple[str, ...], flt: dict) -> Any:
    response = await gql(
        REPORT,
        as_user=user,
        variables={"metric": metric, "groupBy": list(group_by), "filter": flt or None},
    )
    return response.ok()["report"]


def published(data: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {
        tuple(d["value"] for d in cell["dimensions"]): cell
        for cell in data["cells"]
        if not cell["suppressed"]
    }


def leaks(metric: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What published cells of the same place in two reports give away by subtraction: a
    difference of students (with a mark, with events), or of a rate's numerator or complement,
    of 1 to minimum - 1."""
    minimum = a["minCellSize"]
    found = []
    cells_b = published(b)
    for key, x in published(a).items():
        y = cells_b.get(key)
        if y is None:
            continue
        differences = [abs(x["studentCount"] - y["studentCount"])]
        if metric == "READINESS_RATE":
            met_x = round(x["value"] * x["studentCount"])
            met_y = round(y["value"] * y["studentCount"])
            differences += [
                abs(met_x - met_y),
                abs((x["studentCount"] - met_x) - (y["studentCount"] - met_y)),
            ]
        if any(0 < d < minimum for d in differences):
            found.append(f"{key}: {x} vs {y}")
    return found


async def district_values(db: asyncpg.Connection, user: str) -> dict[str, list[Any]]:
    district = int(await db.fetchval("SELECT district_id FROM app_user WHERE username = $1", user))
    active = "district_id = $1 AND enrollment_status = 'active'"
    return {
        "schoolIds": [
            to_global_id("School", r["school_id"])
            for r in await db.fetch(
                f"SELECT DISTINCT school_id FROM student WHERE {active} ORDER BY 1", district
            )
        ],
        "gradeLevels": [
            r["grade_level"]
            for r in await db.fetch(
                f"SELECT DISTINCT grade_level FROM student WHERE {active} ORDER BY 1", district
            )
        ],
        "genders": [
            r["gender"]
            for r in await db.fetch(
                f"SELECT DISTINCT gender FROM student WHERE {active} AND gender IS NOT NULL"
                " ORDER BY 1",
                district,
            )
        ],
        "ethnicities": [
            r["ethnicity"]
            for r in await db.fetch(
                f"SELECT DISTINCT ethnicity FROM student WHERE {active} AND ethnicity IS NOT NULL"
                " ORDER BY 1",
                district,
            )
        ],
    }


async def small_group(db: asyncpg.Connection, user: str) -> tuple[int, str, int]:
    """A school of the user's district, and an ethnicity with 1 to minimum - 1 active students
    there: the review's one American Indian or Alaska Native student."""
    row = await db.fetchrow(
        "SELECT s.school_id, s.ethnicity, count(*) AS n, d.min_cell_size"
        " FROM student s JOIN district d ON d.id = s.district_id"
        " JOIN app_user u ON u.district_id = s.district_id"
        " WHERE u.username = $1 AND s.enrollment_status = 'active' AND s.ethnicity IS NOT NULL"
        " GROUP BY s.school_id, s.ethnicity, d.min_cell_size"
        " HAVING count(*) < d.min_cell_size ORDER BY count(*), s.school_id, s.ethnicity LIMIT 1",
        user,
    )
    assert row is not None, "the demo district has a small ethnic group at some school"
    return int(row["school_id"]), str(row["ethnicity"]), int(row["n"])


# --- The review's attacks -----------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["STUDENT_COUNT", "AVERAGE_MARK"])
async def test_every_ethnicity_but_one_does_not_isolate_it(gql, db, metric):
    """332 students at S1, 331 with every ethnicity but one: exactly one such student; by
    class, 26 vs 25 and their averages gave that student's mark. Now one of each pair is
    withheld, for the school, for every grade and for every class."""
    school, ethnicity, _ = await small_group(db, "reporter")
    others = [e for e in (await district_values(db, "reporter"))["ethnicities"] if e != ethnicity]
    base = {"schoolIds": [to_global_id("School", school)]}
    for group_by in [(), ("GRADE_LEVEL",), ("CLASS",), ("GENDER",)]:
        whole = await report(gql, "reporter", metric, group_by, base)
        narrowed = await report(gql, "reporter", metric, group_by, {**base, "ethnicities": others})
        assert not leaks(metric, whole, narrowed), (group_by, leaks(metric, whole, narrowed))


async def test_the_coordinator_cannot_difference_by_gender(gql, db):
    """92 female and male students vs 94 in all: the nonbinary cell, withheld elsewhere, is 2."""
    values = await district_values(db, "coordinator")
    school = await db.fetchval(
        "SELECT r.school_id FROM role_assignment r JOIN app_user u ON u.id = r.user_id"
        " WHERE u.username = 'coordinator' AND r.school_id IS NOT NULL LIMIT 1"
    )
    base = {"schoolIds": [to_global_id("School", school)]}
    for group_by in [(), ("GRADE_LEVEL",), ("ETHNICITY",)]:
        whole = await report(gql, "coordinator", "STUDENT_COUNT", group_by, base)
        for gender in values["genders"]:
            others = [g for g in values["genders"] if g != gender]
            narrowed = await report(
                gql, "coordinator", "STUDENT_COUNT", group_by, {**base, "genders": others}
            )
            assert not leaks("STUDENT_COUNT", whole, narrowed), (group_by, gender)


async def test_a_grade_filter_cannot_isolate_a_student(gql, db):
    """gradeLevels:[9] with and without the small ethnic group: 94 vs 93."""
    school, ethnicity, _ = await small_group(db, "reporter")
    values = await district_values(db, "reporter")
    others = [e for e in values["ethnicities"] if e != ethnicity]
    for grade in values["gradeLevels"]:
        base = {"schoolIds": [to_global_id("School", school)], "gradeLevels": [grade]}
        whole = await report(gql, "reporter", "STUDENT_COUNT", (), base)
        narrowed = await report(
            gql, "reporter", "STUDENT_COUNT", (), {**base, "ethnicities": others}
        )
        assert not leaks("STUDENT_COUNT", whole, narrowed), grade


# --- Generated: random requests and their neighbours --------------------------------------------

METRICS = {
    "STUDENT_COUNT": ("SCHOOL", "GRADE_LEVEL", "GENDER", "ETHNICITY"),
    "READINESS_RATE": ("SCHOOL", "GENDER", "ETHNICITY", "GRADUATION_YEAR"),
    "AVERAGE_MARK": ("SCHOOL", "GRADE_LEVEL", "GENDER", "ETHNICITY"),
    "ACTIVE_STUDENTS": ("SCHOOL", "GRADE_LEVEL", "GENDER", "WEEK"),
}
FILTERS = ("schoolIds", "gradeLevels", "genders", "ethnicities")


def neighbours(flt: dict[str, list[Any]], values: dict[str, list[Any]], rng: random.Random):
    """One value added, one removed, one filter dropped (a few of each)."""
    for name, chosen in flt.items():
        missing = [v for v in values[name] if v not in chosen]
        if missing:
            yield {**flt, name: [*chosen, rng.choice(missing)]}
        if len(chosen) > 1:
            yield {**flt, name: [v for v in chosen if v != rng.choice(chosen)]}
        yield {k: v for k, v in flt.items() if k != name}


@pytest.mark.parametrize("metric", list(METRICS))
async def test_neighbouring_filters_cannot_be_differenced(gql, db, metric):
    rng = random.Random(f"differencing-{metric}")
    values = await district_values(db, "reporter")
    if metric == "READINESS_RATE":
        values["gradeLevels"] = [g for g in values["gradeLevels"] if g >= 11]
    compared = 0
    # First a request that publishes in the small demo district (every grade is large), then
    # random ones.
    cases: list[tuple[tuple[str, ...], dict[str, list[Any]]]] = [
        ((), {"gradeLevels": values["gradeLevels"][-3:]})
    ]
    for _ in range(4):
        dims = METRICS[metric]
        flt: dict[str, list[Any]] = {}
        for name in rng.sample(FILTERS, rng.randint(1, 2)):
            pool = values[name]
            flt[name] = rng.sample(pool, rng.randint(1, max(1, len(pool) - 1)))
        cases.append((tuple(rng.sample(dims, rng.randint(0, 2))), flt))
    for group_by, flt in cases:
        base = await report(gql, "reporter", metric, group_by, flt)
        for other in neighbours(flt, values, rng):
            near = await report(gql, "reporter", metric, group_by, other)
            found = leaks(metric, base, near)
            assert not found, (group_by, flt, other, found[:3])
            compared += len(set(published(base)) & set(published(near)))
    if metric != "ACTIVE_STUDENTS":  # in the demo district some grade has no activity at all
        assert compared, "some cells are published in both reports of a pair"
