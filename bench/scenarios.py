"""What each simulated frontend sends, and as which demo account.

Each scenario is the query a frontend would send for one screen. `bodies()` turns it into the
request bodies the load generators cycle through: one body for most screens, one per page for the
coordinator, who follows `endCursor` until `hasNextPage` is false.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Body = dict[str, Any]
Fetch = Callable[[Body], dict[str, Any]]  # sends one body as the scenario's user, returns JSON

TEACHER_DASHBOARD = """
query TeacherDashboard {
  classes(mine: true, first: 20) {
    edges { node {
      id title code
      students(first: 100) { edges { node {
        id firstName lastName displayName gradeLevel email phone
        marks { id score letter comment }
      } } }
    } }
  }
}
"""

CHILD_VIEW = """
query ChildView($id: ID!) {
  student(id: $id) {
    id studentNumber firstName lastName preferredName displayName gradeLevel
    school { id name }
    dateOfBirth gender ethnicity email phone
    classes { id title code teachers { id firstName lastName email } }
    guardians { id firstName lastName relationship legalGuardian email phone }
    marks { id score letter comment class { id title } term { id name } }
    portfolio { id headline items { id kind title body visibility createdAt } }
    readiness { id indicator category met value achievedOn source }
    disclosures(first: 20) { id basis purpose fieldClasses disclosedAt viewerName }
  }
}
"""

COORDINATOR_DIRECTORY = """
query StudentDirectory($after: String) {
  students(first: 1000, after: $after) {
    edges { cursor node { id firstName lastName displayName gradeLevel } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

STUDENT_PORTFOLIO = """
query MyPortfolio {
  viewer { student {
    id firstName lastName displayName gradeLevel
    portfolio { id headline items { id kind title body visibility createdAt updatedAt } }
    readiness { indicator category met value achievedOn }
  } }
}
"""

DISTRICT_REPORT = """
query DistrictReport {
  report(metric: STUDENT_COUNT, groupBy: [SCHOOL, GRADE_LEVEL]) {
    minCellSize suppressedCount
    cells {
      dimensions { dimension value label isTotal }
      value studentCount suppressed suppressionReason
    }
  }
}
"""

# The teacher's students with an email each: ~117 recorded disclosures (the contact field class)
# per request on the 100,000-student district, so it measures what recording costs.
TEACHER_CONTACTS = """
query TeacherContacts {
  students(first: 1000) { edges { node { id firstName lastName email } } }
}
"""

# The teacher's students, names only: directory information, which SchoolGraph does not record.
TEACHER_DIRECTORY = """
query TeacherDirectory {
  students(first: 1000) { edges { node { id firstName lastName } } }
}
"""

# The same two screens as PostGraphile v4 asks for them (`scripts/bench --peer`): its row-level
# security lists the same students (bench/peer/rls.sql), in its own order.
PEER_DIRECTORY = "{ allStudents { nodes { id firstName lastName } } }"
PEER_CONTACTS = "{ allStudents { nodes { id firstName lastName email } } }"

# Pages of the directory a coordinator walks through, at most (a school has fewer).
MAX_PAGES = 50


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    user: str  # the demo account the requests are sent as
    query: str
    floor: str | None = None  # path of the hand-written endpoint returning the same data
    peer: str | None = None  # the same data as PostGraphile's query (`--peer`)

    def bodies(self, fetch: Fetch) -> list[Body]:
        if self.key == "coordinator-paging":
            return _pages(self.query, fetch)
        if self.key == "guardian-child":
            children = fetch({"query": "{ viewer { children { id } } }"})
            ids = [c["id"] for c in children["data"]["viewer"]["children"]]
            return [{"query": self.query, "variables": {"id": i}} for i in ids]
        return [{"query": self.query}]


def _pages(query: str, fetch: Fetch) -> list[Body]:
    bodies: list[Body] = []
    after = None
    for _ in range(MAX_PAGES):
        body = {"query": query, "variables": {"after": after}}
        bodies.append(body)
        page = fetch(body)["data"]["students"]["pageInfo"]
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    return bodies


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "teacher-dashboard", "teacher dashboard", "teacher", TEACHER_DASHBOARD, "/teacher-dashboard"
    ),
    Scenario(
        "coordinator-paging",
        "coordinator paging",
        "coordinator",
        COORDINATOR_DIRECTORY,
        "/coordinator-paging",
    ),
    Scenario("guardian-child", "guardian's child view", "guardian", CHILD_VIEW),
    Scenario("student-portfolio", "student portfolio", "student", STUDENT_PORTFOLIO),
    Scenario("district-report", "district report", "reporter", DISTRICT_REPORT),
    Scenario(
        "teacher-directory",
        "teacher's directory",
        "teacher",
        TEACHER_DIRECTORY,
        peer=PEER_DIRECTORY,
    ),
    Scenario(
        "teacher-contacts",
        "teacher's contact list",
        "teacher",
        TEACHER_CONTACTS,
        peer=PEER_CONTACTS,
    ),
)
