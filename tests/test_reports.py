"""Reports (SPEC §8): suppression by hand and by attack, counts against SQL, scope per role,
audit, saved views, CSV export and bad input."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.database import asyncpg_dsn
from app.reports import TOTAL, Suppression, suppress
from schema.relay import from_global_id, to_global_id
from tests.helpers import GraphQLResponse, nodes

Gql = Callable[..., Awaitable[GraphQLResponse]]

REPORT = """
query ($metric: ReportMetric!, $groupBy: [ReportDimension!]! = [], $filter: ReportFilter) {
  report(metric: $metric, groupBy: $groupBy, filter: $filter) {
    metric groupBy minCellSize from to suppressedCount
    filter { schoolIds gradeLevels from to }
    cells {
      dimensions { dimension value label isTotal }
      value studentCount suppressed suppressionReason
    }
    total { value studentCount suppressed }
  }
}
"""


async def report(gql: Gql, as_user: str, metric: str, *group_by: str, **flt: Any) -> Any:
    response = await gql(
        REPORT,
        as_user=as_user,
        variables={"metric": metric, "groupBy": list(group_by), "filter": flt or None},
    )
    return response.ok()["report"]


def coordinates(cell: dict[str, Any]) -> tuple[str | None, ...]:
    """A cell's key: its dimension values, None where it is a subtotal."""
    return tuple(d["value"] for d in cell["dimensions"])


def error_code(response: GraphQLResponse) -> str:
    assert response.errors, response.body
    return str(response.errors[0]["extensions"]["code"])


# --- The suppression rule, on tables made by hand ---------------------------------------------


def table(detail: dict[tuple[Any, ...], int]) -> dict[tuple[Any, ...], int]:
    """Detail counts plus every marginal subtotal and the grand total (`TOTAL` where summed)."""
    full: dict[tuple[Any, ...], int] = {}
    for key, n in detail.items():
        for rolled in itertools.product((False, True), repeat=len(key)):
            cell = tuple(TOTAL if r else v for v, r in zip(key, rolled, strict=True))
            full[cell] = full.get(cell, 0) + n
    return full


def lines(counts: dict[tuple[Any, ...], int]) -> list[list[tuple[Any, ...]]]:
    """Every line: a subtotal followed by the cells that vary it along one dimension."""
    found: dict[tuple[int, tuple[Any, ...]], list[tuple[Any, ...]]] = {}
    for key in counts:
        for axis, value in enumerate(key):
            if value is not TOTAL:
                total = (*key[:axis], TOTAL, *key[axis + 1 :])
                found.setdefault((axis, total), [total]).append(key)
    return list(found.values())


def recover_by_subtraction(
    counts: dict[tuple[Any, ...], int], hidden: set[tuple[Any, ...]]
) -> dict[tuple[Any, ...], int]:
    """What an attacker works out from the published cells: any line with one unknown cell
    gives it (a member is the subtotal minus the others; a subtotal is the sum), repeatedly."""
    known = {key: n for key, n in counts.items() if key not in hidden}
    recovered: dict[tuple[Any, ...], int] = {}
    progress = True
    while progress:
        progress = False
        for total, *members in lines(counts):
            unknown = [k for k in (total, *members) if k not in known]
            if len(unknown) != 1:
                continue
            (cell,) = unknown
            if cell == total:
                value = sum(known[m] for m in members)
            else:
                value = known[total] - sum(known[m] for m in members if m != cell)
            known[cell] = recovered[cell] = value
            progress = True
    return recovered


def test_suppression_of_a_hand_made_table():
    # Schools A and B by grades 9, 10, 11; minimum 5. B9 (2) is too small; hiding only it would
    # give it away as B's total minus B10 and B11, or grade 9's total minus A9.
    counts = table(
        {
            ("A", 9): 6, ("A", 10): 7, ("A", 11): 9,
            ("B", 9): 2, ("B", 10): 8, ("B", 11): 12,
        }
    )  # fmt: skip
    hidden = suppress(counts, 5)
    assert hidden == {
        ("B", 9): Suppression.BELOW_MINIMUM,
        ("B", 10): Suppression.COMPLEMENTARY,  # the smallest other cell of B's row
        ("A", 9): Suppression.COMPLEMENTARY,  # the only other cell of grade 9's column
        ("A", 10): Suppression.COMPLEMENTARY,  # grade 10's column now hid only B10
    }
    assert recover_by_subtraction(counts, set(hidden)) == {}


def test_a_line_of_one_cell_hides_its_subtotal_and_small_totals_are_hidden():
    counts = table({("A", 9): 30, ("B", 9): 3, ("B", 10): 40})
    hidden = suppress(counts, 10)
    # B9 is small; B's row hides B10 with it. Grade 10 has B10 alone, so its total equals it and
    # is hidden too; the grade totals' line then hides grade 9's total, which protects B9 in
    # grade 9's column as well (B9 + B10 = 43 is all that can be worked out).
    assert hidden == {
        ("B", 9): Suppression.BELOW_MINIMUM,
        ("B", 10): Suppression.COMPLEMENTARY,
        (TOTAL, 10): Suppression.COMPLEMENTARY,
        (TOTAL, 9): Suppression.COMPLEMENTARY,
    }
    assert recover_by_subtraction(counts, set(hidden)) == {}
    assert suppress({(TOTAL,): 4}, 10) == {(TOTAL,): Suppression.BELOW_MINIMUM}
    assert suppress(table({("A",): 4, ("B",): 3}), 10) == {
        ("A",): Suppression.BELOW_MINIMUM,
        ("B",): Suppression.BELOW_MINIMUM,
        (TOTAL,): Suppression.BELOW_MINIMUM,
    }


def test_every_line_hides_none_or_at_least_two_cells_in_three_dimensions():
    rng = random.Random(4)
    detail = {
        (school, grade, gender): rng.choice((0, 1, 3, 8, 12, 20, 35))
        for school in "ABCD"
        for grade in (9, 10, 11, 12)
        for gender in ("f", "m", "x")
    }
    counts = table({k: n for k, n in detail.items() if n})
    hidden = suppress(counts, 10)
    assert all(key in hidden for key, n in counts.items() if n < 10)
    for line in lines(counts):
        assert sum(key in hidden for key in line) != 1, line
    assert recover_by_subtraction(counts, set(hidden)) == {}
    # Without the complementary cells, the attacker would have succeeded.
    primary = {key for key, why in hidden.items() if why is Suppression.BELOW_MINIMUM}
    assert recover_by_subtraction(counts, primary)


# --- A tiny district, computed by hand --------------------------------------------------------

# Students per (school, grade); the district's minimum cell size is 5.
TINY = {("Alder High", 9): 6, ("Alder High", 10): 7, ("Alder High", 11): 9,
        ("Birch High", 9): 2, ("Birch High", 10): 8, ("Birch High", 11): 12}  # fmt: skip


@pytest.fixture(scope="module")
async def tiny(admin_database_url: str) -> AsyncIterator[dict[str, Any]]:
    """A third district with two schools, 44 students, a reporting account and a coordinator
    of Alder High; removed afterwards."""
    db = await asyncpg.connect(asyncpg_dsn(admin_database_url))
    district = await db.fetchval(
        "INSERT INTO district (name, min_cell_size) VALUES ('Tiny Test District', 5) RETURNING id"
    )
    try:
        yield await _arrange_tiny(db, district)
    finally:
        for statement in (
            "DELETE FROM audit_event WHERE district_id = $1",
            "DELETE FROM saved_report WHERE district_id = $1",
            "DELETE FROM role_assignment WHERE district_id = $1",
            "DELETE FROM app_user WHERE district_id = $1",
            "DELETE FROM student WHERE district_id = $1",
            "DELETE FROM school WHERE district_id = $1",
            "DELETE FROM district WHERE id = $1",
        ):
            await db.execute(statement, district)
        await db.close()


async def _arrange_tiny(db: asyncpg.Connection, district: int) -> dict[str, Any]:
    schools = {}
    for name in ("Alder High", "Birch High"):
        schools[name] = await db.fetchval(
            "INSERT INTO school (district_id, name, code, level) VALUES ($1, $2, $3, 'high')"
            " RETURNING id",
            district,
            name,
            name[:3].upper(),
        )
    number = itertools.count(1)
    for (school, grade), n in TINY.items():
        for _ in range(n):
            await db.execute(
                "INSERT INTO student (district_id, school_id, student_number, first_name,"
                " last_name, grade_level, date_of_birth, gender, ethnicity, enrollment_status)"
                " VALUES ($1, $2, $3, 'Tiny', 'Student', $4, $5, 'female', 'White', 'active')",
                district,
                schools[school],
                f"T{next(number):04d}",
                grade,
                date(2010, 1, 1),
            )
    for username, role, school_id in (
        ("tiny-reporter", "reporting", None),
        ("tiny-coordinator", "coordinator", schools["Alder High"]),
    ):
        user_id = await db.fetchval(
            "INSERT INTO app_user (district_id, username, first_name, last_name)"
            " VALUES ($1, $2, 'Tiny', 'Staff') RETURNING id",
            district,
            username,
        )
        await db.execute(
            "INSERT INTO role_assignment (district_id, user_id, role, school_id)"
            " VALUES ($1, $2, $3, $4)",
            district,
            user_id,
            role,
            school_id,
        )
    return {"district": district, "schools": schools}


async def test_hand_computed_report_cell_by_cell(gql, tiny):
    data = await report(gql, "tiny-reporter", "STUDENT_COUNT", "SCHOOL", "GRADE_LEVEL")
    alder = to_global_id("School", tiny["schools"]["Alder High"])
    birch = to_global_id("School", tiny["schools"]["Birch High"])
    assert data["minCellSize"] == 5
    got = [
        (
            tuple(d["label"] for d in cell["dimensions"]),
            coordinates(cell),
            cell["value"],
            cell["studentCount"],
            cell["suppressionReason"],
        )
        for cell in data["cells"]
    ]
    hidden = None
    assert got == [
        # Birch 9th grade (2) is below 5. Hiding it alone would let Birch's total minus its
        # other grades, or grade 9's total minus Alder's, give it back: Birch 10 (the smallest
        # other cell of its row) and Alder 9 (the other cell of its column) are hidden too, and
        # then Alder 10, as grade 10's column would otherwise hide Birch 10 alone.
        (("Alder High", "Grade 9"), (alder, "9"), hidden, hidden, "COMPLEMENTARY"),
        (("Alder High", "Grade 10"), (alder, "10"), hidden, hidden, "COMPLEMENTARY"),
        (("Alder High", "Grade 11"), (alder, "11"), 9.0, 9, None),
        (("Birch High", "Grade 9"), (birch, "9"), hidden, hidden, "BELOW_MINIMUM"),
        (("Birch High", "Grade 10"), (birch, "10"), hidden, hidden, "COMPLEMENTARY"),
        (("Birch High", "Grade 11"), (birch, "11"), 12.0, 12, None),
        # Subtotals: per school, then per grade, then the grand total.
        (("Alder High", "Total"), (alder, None), 22.0, 22, None),
        (("Birch High", "Total"), (birch, None), 22.0, 22, None),
        (("Total", "Grade 9"), (None, "9"), 8.0, 8, None),
        (("Total", "Grade 10"), (None, "10"), 15.0, 15, None),
        (("Total", "Grade 11"), (None, "11"), 21.0, 21, None),
        (("Total", "Total"), (None, None), 44.0, 44, None),
    ]
    assert data["suppressedCount"] == 4
    assert all(c["suppressed"] == (c["value"] is None) for c in data["cells"])
    assert data["total"] == {"value": 44.0, "studentCount": 44, "suppressed": False}


async def test_coordinator_reports_on_their_school_only(gql, tiny):
    data = await report(gql, "tiny-coordinator", "STUDENT_COUNT", "SCHOOL", "GRADE_LEVEL")
    schools = {c["dimensions"][0]["label"] for c in data["cells"]} - {"Total"}
    assert schools == {"Alder High"}
    assert data["total"]["value"] == 22.0
    birch = to_global_id("School", tiny["schools"]["Birch High"])
    response = await gql(
        REPORT,
        as_user="tiny-coordinator",
        variables={"metric": "STUDENT_COUNT", "groupBy": [], "filter": {"schoolIds": [birch]}},
    )
    assert error_code(response) == "FORBIDDEN"


# --- The demo district: counts against SQL, and an attack on a real report --------------------


async def district_of(db: asyncpg.Connection, username: str) -> int:
    return int(await db.fetchval("SELECT district_id FROM app_user WHERE username = $1", username))


async def test_student_counts_match_a_direct_sql_count(gql, db):
    data = await report(gql, "admin", "STUDENT_COUNT", "SCHOOL", "GRADE_LEVEL")
    district = await district_of(db, "admin")
    rows = await db.fetch(
        "SELECT school_id, grade_level, count(*) AS n FROM student"
        " WHERE district_id = $1 AND enrollment_status = 'active'"
        " GROUP BY GROUPING SETS ((school_id, grade_level), (school_id), (grade_level), ())",
        district,
    )
    expected = {
        (
            to_global_id("School", r["school_id"]) if r["school_id"] is not None else None,
            str(r["grade_level"]) if r["grade_level"] is not None else None,
        ): r["n"]
        for r in rows
    }
    published = {coordinates(c): c["value"] for c in data["cells"] if not c["suppressed"]}
    assert set(coordinates(c) for c in data["cells"]) == set(expected)
    assert published and all(value == expected[key] for key, value in published.items())
    assert data["total"]["value"] == expected[None, None]
    assert all(c["studentCount"] >= 10 for c in data["cells"] if not c["suppressed"])


async def test_readiness_and_logins_match_sql(gql, db):
    district = await district_of(db, "admin")
    readiness = await report(gql, "reporter", "READINESS_RATE")
    cohort, met = await db.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM readiness_indicator ri"
        " WHERE ri.student_id = s.id AND ri.met)) FROM student s"
        " WHERE s.district_id = $1 AND s.enrollment_status = 'active' AND s.grade_level >= 11",
        district,
    )
    assert readiness["total"]["studentCount"] == cohort
    assert readiness["total"]["value"] == round(met / cohort, 4)

    to = date.today()
    start = to - timedelta(days=27)
    logins = await report(
        gql, "reporter", "LOGINS_PER_WEEK", "WEEK", **{"from": start.isoformat(), "to": str(to)}
    )
    count = await db.fetchval(
        "SELECT count(*) FROM activity_event ev JOIN student s ON s.id = ev.student_id"
        " WHERE s.district_id = $1 AND s.enrollment_status = 'active' AND ev.kind = 'login'"
        " AND ev.occurred_at >= $2::date AND ev.occurred_at < $3::date + 1",
        district,
        start,
        to,
    )
    assert logins["total"]["value"] == round(count / 4, 2)  # 28 days: four weeks
    weeks = [c for c in logins["cells"] if not c["dimensions"][0]["isTotal"]]
    assert all(date.fromisoformat(c["dimensions"][0]["value"]).weekday() == 0 for c in weeks)


async def test_suppressed_cells_cannot_be_recovered_from_published_totals(gql):
    data = await report(gql, "reporter", "STUDENT_COUNT", "SCHOOL", "GRADE_LEVEL", "GENDER")
    counts, hidden = {}, set()
    for cell in data["cells"]:
        key = tuple(TOTAL if v is None else v for v in coordinates(cell))
        counts[key] = cell["value"]
        if cell["suppressed"]:
            assert cell["value"] is None and cell["studentCount"] is None
            assert cell["suppressionReason"] in ("BELOW_MINIMUM", "COMPLEMENTARY")
            hidden.add(key)
    assert hidden, "a 400-student district has small cells by school, grade and gender"
    assert any(c["suppressionReason"] == "COMPLEMENTARY" for c in data["cells"])
    # The attacker knows only published values: every line hides none or at least two.
    published = {k: v for k, v in counts.items() if k not in hidden}
    for line in lines(counts):
        assert sum(key in hidden for key in line) != 1
    assert recover_by_subtraction({**published, **dict.fromkeys(hidden, 0)}, hidden) == {}


async def test_every_metric_and_dimension_runs(gql):
    for metric, group_by in (
        ("ACTIVE_STUDENTS", ("SCHOOL", "WEEK")),
        ("PORTFOLIO_ACTIVITY_PER_WEEK", ("WEEK",)),
        ("PORTFOLIO_ITEMS", ("GRADE_LEVEL", "GENDER")),
        ("READINESS_RATE", ("SCHOOL", "GRADUATION_YEAR", "INDICATOR")),
        ("READINESS_RATE", ("READINESS_CATEGORY", "ETHNICITY")),
        ("AVERAGE_MARK", ("TERM", "SCHOOL")),
        ("AVERAGE_MARK", ("CLASS",)),
        ("STUDENT_COUNT", ("TERM",)),
        ("LOGINS_PER_WEEK", ("CLASS",)),
    ):
        data = await report(gql, "reporter", metric, *group_by)
        assert data["groupBy"] == list(group_by)
        assert all(d["isTotal"] for d in data["cells"][-1]["dimensions"])
        values = [c["value"] for c in data["cells"] if not c["suppressed"]]
        assert values and all(v >= 0 for v in values)
        if metric == "READINESS_RATE":
            assert all(v <= 1 for v in values)


async def test_statements_do_not_grow_with_the_report(gql):
    small = await gql(REPORT, as_user="reporter", variables={"metric": "STUDENT_COUNT"})
    large = await gql(
        REPORT,
        as_user="reporter",
        variables={"metric": "STUDENT_COUNT", "groupBy": ["SCHOOL", "GRADE_LEVEL", "ETHNICITY"]},
    )
    small.ok(), large.ok()
    assert small.statements == large.statements <= 4  # viewer, settings, report, audit


async def test_runs_per_request_are_capped(gql):
    aliases = " ".join(
        f"r{i}: report(metric: STUDENT_COUNT) {{ suppressedCount }}" for i in range(11)
    )
    response = await gql(f"{{ {aliases} }}", as_user="reporter")
    assert error_code(response) == "BAD_USER_INPUT"
    assert "at most 10 reports" in response.errors[0]["message"]


# --- Scope per role -------------------------------------------------------------------------


async def test_scope_per_role(gql, db):
    district = await district_of(db, "admin")
    school_a = await db.fetchval(
        "SELECT s.school_id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    all_schools = await db.fetchval(
        "SELECT count(DISTINCT school_id) FROM student WHERE district_id = $1", district
    )
    for user in ("admin", "reporter"):
        data = await report(gql, user, "STUDENT_COUNT", "SCHOOL")
        assert len(data["cells"]) == all_schools + 1
    for user in ("principal", "coordinator"):
        data = await report(gql, user, "STUDENT_COUNT", "SCHOOL")
        assert [coordinates(c) for c in data["cells"]] == [
            (to_global_id("School", school_a),),
            (None,),
        ]
    for user in ("teacher", "guardian", "student", "support", "designee"):
        response = await gql(REPORT, as_user=user, variables={"metric": "STUDENT_COUNT"})
        assert error_code(response) == "FORBIDDEN", user
        # Refused to the role: the field is null, and nothing else of the answer.
        assert response.data == {"report": None}
    anonymous = await gql(REPORT, variables={"metric": "STUDENT_COUNT"})
    assert error_code(anonymous) == "UNAUTHENTICATED"


async def test_reporting_account_reaches_no_student(gql, db):
    student_id = await db.fetchval(
        "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    gid = to_global_id("Student", student_id)
    response = await gql(
        """query ($id: ID!) {
             students(first: 50) { totalCount edges { node { firstName } } }
             student(id: $id) { firstName dateOfBirth }
             node(id: $id) { id }
             classes(first: 50) { edges { node { students(first: 50) { edges { node { id } } } } } }
           }""",
        as_user="reporter",
        variables={"id": gid},
    )
    data = response.ok()
    assert data["students"] == {"totalCount": 0, "edges": []}
    assert data["student"] is None and data["node"] is None
    assert all(not nodes(c["students"]) for c in nodes(data["classes"]))


# --- Audit ------------------------------------------------------------------------------------


async def test_every_run_is_audited(gql, db):
    school = await db.fetchval(
        "SELECT s.school_id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    response = await gql(
        REPORT,
        as_user="reporter",
        variables={
            "metric": "AVERAGE_MARK",
            "groupBy": ["GRADE_LEVEL"],
            "filter": {"schoolIds": [to_global_id("School", school)], "gradeLevels": [9, 10]},
        },
    )
    response.ok()
    row = await db.fetchrow(
        "SELECT a.*, u.username FROM audit_event a JOIN app_user u ON u.id = a.actor_user_id"
        " WHERE a.request_id = $1",
        response.body["extensions"]["requestId"],
    )
    assert row is not None and row["action"] == "report.run" and row["username"] == "reporter"
    details = json.loads(row["details"])
    assert details["metric"] == "AVERAGE_MARK" and details["groupBy"] == ["GRADE_LEVEL"]
    assert details["filter"] == {"schoolIds": [school], "gradeLevels": [9, 10]}
    assert details["channel"] == "graphql" and details["cells"] >= 1
    assert row["at"] is not None


# --- Saved views ------------------------------------------------------------------------------

SAVE = """
mutation ($input: SaveReportInput!) {
  saveReport(input: $input) {
    savedReport { id name metric groupBy filter { gradeLevels from } createdBy { lastName } }
    userErrors { message code field }
  }
}
"""
DELETE = """
mutation ($id: ID!) {
  deleteReport(input: {id: $id}) { savedReport { id name } userErrors { message code field } }
}
"""
SAVED = """
query ($id: ID!) {
  savedReports(first: 100) { totalCount edges { node { id name } } }
  savedReport(id: $id) { name run { metric groupBy total { value } cells { value } } }
}
"""


async def test_saved_report_create_list_run_delete(gql, db):
    name = "Usage by week, grades 9-12"
    saved = await gql(
        SAVE,
        as_user="reporter",
        variables={
            "input": {
                "name": name,
                "metric": "LOGINS_PER_WEEK",
                "groupBy": ["WEEK"],
                "filter": {"gradeLevels": [9, 10, 11, 12]},
            }
        },
    )
    payload = saved.ok()["saveReport"]
    assert payload["userErrors"] == []
    view = payload["savedReport"]
    assert (view["name"], view["metric"], view["groupBy"]) == (name, "LOGINS_PER_WEEK", ["WEEK"])
    assert view["filter"] == {"gradeLevels": [9, 10, 11, 12], "from": None}

    # Shared in the district: the coordinator lists and runs it, within their own school.
    listed = (await gql(SAVED, as_user="coordinator", variables={"id": view["id"]})).ok()
    assert name in [n["name"] for n in nodes(listed["savedReports"])]
    run = listed["savedReport"]["run"]
    assert run["metric"] == "LOGINS_PER_WEEK" and run["groupBy"] == ["WEEK"]
    direct = await report(
        gql, "coordinator", "LOGINS_PER_WEEK", "WEEK", gradeLevels=[9, 10, 11, 12]
    )
    assert run["total"]["value"] == direct["total"]["value"]

    duplicate = await gql(
        SAVE, as_user="admin", variables={"input": {"name": name, "metric": "STUDENT_COUNT"}}
    )
    errors = duplicate.ok()["saveReport"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("NAME_TAKEN", ["name"])]

    # Only its author or a district-wide report user may delete it.
    refused = (await gql(DELETE, as_user="coordinator", variables={"id": view["id"]})).ok()
    assert refused["deleteReport"]["userErrors"][0]["code"] == "NOT_ALLOWED"
    deleted = (await gql(DELETE, as_user="admin", variables={"id": view["id"]})).ok()
    assert deleted["deleteReport"] == {
        "savedReport": {"id": view["id"], "name": name},
        "userErrors": [],
    }
    gone = (await gql(SAVED, as_user="reporter", variables={"id": view["id"]})).ok()
    assert gone["savedReport"] is None
    again = (await gql(DELETE, as_user="admin", variables={"id": view["id"]})).ok()
    assert again["deleteReport"]["userErrors"][0]["code"] == "NOT_FOUND"

    pk = from_global_id(view["id"])[1]
    actions = await db.fetch(
        "SELECT action, details->>'channel' AS channel FROM audit_event"
        " WHERE target_type = 'saved_report' AND target_id = $1 ORDER BY id",
        pk,
    )
    assert [(a["action"], a["channel"]) for a in actions] == [
        ("report.saved", None),
        ("report.run", "graphql"),
        ("report.deleted", None),
    ]


async def test_saving_needs_a_report_role_and_a_valid_definition(gql):
    forbidden = await gql(
        SAVE, as_user="teacher", variables={"input": {"name": "x", "metric": "STUDENT_COUNT"}}
    )
    assert error_code(forbidden) == "FORBIDDEN"
    invalid = await gql(
        SAVE,
        as_user="reporter",
        variables={
            "input": {"name": "weekly counts", "metric": "STUDENT_COUNT", "groupBy": ["WEEK"]}
        },
    )
    errors = invalid.ok()["saveReport"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID", ["groupBy"])]
    blank = await gql(
        SAVE, as_user="reporter", variables={"input": {"name": "  ", "metric": "STUDENT_COUNT"}}
    )
    assert blank.ok()["saveReport"]["userErrors"][0]["field"] == ["name"]


# --- CSV export -------------------------------------------------------------------------------


async def export(client: httpx.AsyncClient, token: str | None, params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get("/reports/export.csv", params=params, headers=headers)


async def test_csv_export(client, token_for, gql):
    token = await token_for("reporter")
    response = await export(
        client, token, [("metric", "STUDENT_COUNT"), ("groupBy", "SCHOOL,GRADE_LEVEL")]
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(
        r'attachment; filename="student-count-by-school-grade-level-\d{4}-\d{2}-\d{2}\.csv"',
        disposition,
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "school", "school_id", "grade_level", "grade_level_id",
        "value", "student_count", "suppressed", "suppression_reason",
    ]  # fmt: skip
    data = await report(gql, "reporter", "STUDENT_COUNT", "SCHOOL", "GRADE_LEVEL")
    assert len(rows) == len(data["cells"])
    for row, cell in zip(rows, data["cells"], strict=True):
        assert row["school_id"] == (cell["dimensions"][0]["value"] or "")
        assert row["grade_level"] == cell["dimensions"][1]["label"]
        if cell["suppressed"]:
            assert row["value"] == "" and row["student_count"] == ""
            assert row["suppressed"] == "true" and row["suppression_reason"]
        else:
            assert float(row["value"]) == cell["value"] and row["suppressed"] == "false"
    assert rows[-1]["school"] == rows[-1]["grade_level"] == "Total"


async def test_csv_export_of_a_saved_report(client, token_for, gql):
    saved = await gql(
        SAVE,
        as_user="admin",
        variables={"input": {"name": "Readiness: class of", "metric": "READINESS_RATE",
                             "groupBy": ["SCHOOL", "GRADUATION_YEAR"]}},
    )  # fmt: skip
    view = saved.ok()["saveReport"]["savedReport"]
    try:
        response = await export(client, await token_for("reporter"), {"savedReportId": view["id"]})
        assert response.status_code == 200, response.text
        assert 'filename="readiness-class-of-' in response.headers["content-disposition"]
        header = response.text.splitlines()[0]
        assert header.startswith("school,school_id,graduation_year,graduation_year_id,value")
        mixed = await export(
            client, await token_for("reporter"), {"savedReportId": view["id"], "metric": "X"}
        )
        assert mixed.status_code == 400
    finally:
        await gql(DELETE, as_user="admin", variables={"id": view["id"]})


async def test_csv_export_errors(client, token_for):
    ok = {"metric": "STUDENT_COUNT"}
    assert (await export(client, None, ok)).status_code == 401
    assert (await export(client, "not-a-token", ok)).status_code == 401
    forbidden = await export(client, await token_for("teacher"), ok)
    assert forbidden.status_code == 403
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    token = await token_for("reporter")
    for params, message in (
        ({}, "give `metric`"),
        ({"metric": "HEIGHT"}, "metric: 'HEIGHT' is not one of STUDENT_COUNT"),
        ({"metric": "STUDENT_COUNT", "groupBy": "WEEK"}, "cannot be grouped by WEEK"),
        ({"metric": "STUDENT_COUNT", "colour": "red"}, "unknown parameter 'colour'"),
        ({"metric": "LOGINS_PER_WEEK", "from": "2026-13-01"}, "is not a date"),
        ({"metric": "LOGINS_PER_WEEK", "from": "2026-02-01", "to": "2026-01-01"}, "after"),
        ({"metric": "STUDENT_COUNT", "gradeLevels": "nine"}, "not a whole number"),
        ({"metric": "STUDENT_COUNT", "schoolIds": "bogus"}, "not a valid id"),
        ({"savedReportId": to_global_id("SavedReport", 10**9)}, "no such saved report"),
    ):
        response = await export(client, token, params)
        assert response.status_code == 400, params
        assert message in response.json()["errors"][0]["message"], response.json()


# --- Bad input --------------------------------------------------------------------------------


async def test_bad_input_is_refused_with_a_clear_message(gql):
    for variables, message in (
        ({"metric": "STUDENT_COUNT", "groupBy": ["WEEK"]}, "cannot be grouped by WEEK"),
        ({"metric": "STUDENT_COUNT", "groupBy": ["SCHOOL", "SCHOOL"]}, "appears twice"),
        (
            {
                "metric": "STUDENT_COUNT",
                "groupBy": ["SCHOOL", "GRADE_LEVEL", "GENDER", "ETHNICITY", "TERM"],
            },
            "at most 4",
        ),
        (
            {"metric": "STUDENT_COUNT", "groupBy": ["GRADE_LEVEL", "GRADUATION_YEAR"]},
            "use one",
        ),
        ({"metric": "STUDENT_COUNT", "filter": {"from": "2026-01-01"}}, "do not apply"),
        ({"metric": "AVERAGE_MARK", "filter": {"indicators": ["AP_IB"]}}, "READINESS_RATE only"),
        ({"metric": "STUDENT_COUNT", "filter": {"schoolIds": ["bogus"]}}, "not a valid id"),
        (
            {"metric": "STUDENT_COUNT", "filter": {"schoolIds": [to_global_id("Class", 1)]}},
            "not the id of a School",
        ),
        ({"metric": "STUDENT_COUNT", "filter": {"gradeLevels": [20]}}, "grade levels run"),
        (
            {"metric": "ACTIVE_STUDENTS", "filter": {"from": "2025-01-01", "to": "2026-06-01"}},
            "at most 366 days",
        ),
    ):
        response = await gql(REPORT, as_user="reporter", variables=variables)
        assert error_code(response) == "BAD_USER_INPUT", variables
        assert message in response.errors[0]["message"], response.errors
        assert response.status == 200 and response.data == {"report": None}
    unknown = await gql(REPORT, as_user="reporter", variables={"metric": "HEIGHT"})
    assert unknown.status == 200 and unknown.errors
    assert "data" not in unknown.body  # an enum value that is none: refused before it ran
