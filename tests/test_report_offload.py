"""A report's suppression and cells are built off the event loop, and a report's cost in the query
analysis grows with the cells its grouping may build (docs/reports.md, "Limits")."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from app.config import get_settings
from app.reports import compute
from schema.cost import report_cells

SETTINGS = get_settings()

# The review's report: 9.4 s, `/healthz` blocked 8.1 s on 2,000 students.
EVERY_CLASS_BY_EVERYTHING = """
{ report(metric: AVERAGE_MARK, groupBy: [CLASS, GENDER, ETHNICITY, GRADE_LEVEL]) {
    cells { value studentCount dimensions { label value } } } }
"""

# The queries docs/reports.md gives (usage and readiness reports).
USAGE = """
query Usage($filter: ReportFilter = {from: "2026-09-28", to: "2026-11-22"}) {
  logins: report(metric: LOGINS_PER_WEEK, groupBy: [SCHOOL, WEEK], filter: $filter) {
    from to minCellSize
    cells { dimensions { dimension value label } value studentCount suppressed suppressionReason }
  }
  portfolio: report(metric: PORTFOLIO_ACTIVITY_PER_WEEK, groupBy: [SCHOOL, WEEK], filter: $filter) {
    cells { dimensions { dimension value label } value studentCount suppressed suppressionReason }
  }
  active: report(metric: ACTIVE_STUDENTS, groupBy: [SCHOOL, WEEK], filter: $filter) {
    cells { dimensions { dimension value label } value studentCount suppressed }
  }
}
"""
READINESS = """
query Readiness {
  overall: report(metric: READINESS_RATE, groupBy: [SCHOOL, GRADUATION_YEAR]) {
    cells { dimensions { dimension value label } value studentCount suppressed suppressionReason }
  }
  byCategory: report(metric: READINESS_RATE, groupBy: [SCHOOL, READINESS_CATEGORY]) {
    cells { dimensions { dimension value label } value studentCount suppressed }
  }
  byIndicator: report(metric: READINESS_RATE, groupBy: [GRADUATION_YEAR, INDICATOR]) {
    cells { dimensions { dimension value label } value studentCount suppressed }
  }
  collegeReady: report(metric: READINESS_RATE, groupBy: [SCHOOL],
                       filter: {readinessCategories: [COLLEGE]}) {
    cells { dimensions { value label } value studentCount suppressed }
  }
}
"""
# The benchmark's district-wide report (docs/reports.md, "Performance").
BENCHMARK = """
{ report(metric: STUDENT_COUNT, groupBy: [SCHOOL, GRADE_LEVEL, ETHNICITY]) {
    suppressedCount cells { dimensions { dimension value label isTotal }
      value studentCount suppressed suppressionReason } total { value studentCount } } }
"""


async def test_healthz_answers_while_a_report_builds_its_cells(client, gql, monkeypatch):
    """The report's cells are held in the middle of being built until `/healthz` has answered.
    On the event loop nothing else could run meanwhile: the health check would only be answered
    after the report (the hold gives up after a few seconds so that the test then fails)."""
    started, release = threading.Event(), threading.Event()
    build = compute._cells
    released: list[bool] = []

    def held(*args: Any, **kwargs: Any) -> Any:
        started.set()
        # Released by the test once /healthz has answered (False: it could not answer meanwhile).
        released.append(release.wait(timeout=5))
        return build(*args, **kwargs)

    monkeypatch.setattr(compute, "_cells", held)
    running = asyncio.create_task(
        gql(
            "{ report(metric: STUDENT_COUNT, groupBy: [SCHOOL, GENDER]) { cells { value } } }",
            as_user="reporter",
        )
    )
    try:
        assert await asyncio.to_thread(started.wait, 10), "the report reached its cells"
        health = await client.get("/healthz")
    finally:
        release.set()
    response = await running
    assert health.status_code == 200
    assert released == [True], "/healthz waited for the report"
    assert compute.CELLS.calls >= 1
    assert response.ok()["report"]["cells"]


async def test_a_report_of_hundreds_of_thousands_of_cells_is_refused(gql, db):
    audited = await db.fetchval("SELECT count(*) FROM audit_event WHERE action = 'report.run'")
    response = await gql(EVERY_CLASS_BY_EVERYTHING, as_user="reporter")
    assert response.status == 200 and "data" not in response.body  # refused before it ran
    [error] = response.errors
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    cells = report_cells(["CLASS", "GENDER", "ETHNICITY", "GRADE_LEVEL"])
    assert cells > SETTINGS.max_cost
    assert error["extensions"]["cost"] >= cells
    assert response.statements == 0
    assert (
        await db.fetchval("SELECT count(*) FROM audit_event WHERE action = 'report.run'") == audited
    )


@pytest.mark.parametrize(
    "query", [USAGE, READINESS, BENCHMARK], ids=["usage", "readiness", "bench"]
)
async def test_the_documented_reports_are_within_the_cost_limit(gql, query):
    assert (await gql(query, as_user="reporter")).ok()


async def test_a_variable_grouping_is_costed_too(gql):
    query = """query ($g: [ReportDimension!]!) {
      report(metric: STUDENT_COUNT, groupBy: $g) { total { value } } }"""
    refused = await gql(
        query, as_user="reporter", variables={"g": ["CLASS", "GENDER", "ETHNICITY", "GRADE_LEVEL"]}
    )
    assert refused.errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert (await gql(query, as_user="reporter", variables={"g": ["CLASS", "GENDER"]})).ok()
