"""Class membership is academic information (SPEC §4: enrollment history): a filter by class and
a class's roster reveal it, so both follow the policy of `Student.classes` (issue 10, finding 4).

The rule (docs/authorization.md): a filter the viewer may not read for every student they could
list is refused with FORBIDDEN, the same answer whatever the value names; a list shows only the
rows whose enrollment the viewer may read.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from app import policy
from app.asgi import create_app
from app.config import get_settings
from app.database import create_engine, transaction
from app.relations import RowScope, load_viewer
from schema.relay import to_global_id
from tests.helpers import GraphQLResponse, nodes

Gql = Callable[..., Awaitable[GraphQLResponse]]

_ACTIVE = "e.begins_on <= CURRENT_DATE AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)"
_TAUGHT = """
    SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u ON u.id = ta.staff_user_id
    WHERE u.username = 'teacher'
      AND ta.starts_on <= CURRENT_DATE AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE)
"""
BY_CLASS = """
query ($id: ID!) {
  students(first: 1000, filter: {classId: $id}) { totalCount edges { node { id } } }
}
"""
ROSTER = """
query ($id: ID!) {
  class(id: $id) { id students(first: 1000) { totalCount edges { node { id } } } }
}
"""
NONEXISTENT_CLASS = to_global_id("Class", 999_999_999)


def cid(pk: int) -> str:
    return to_global_id("Class", pk)


async def _enrolled(db: asyncpg.Connection, class_id: int) -> set[str]:
    rows = await db.fetch(
        f"SELECT e.student_id FROM enrollment e WHERE e.class_id = $1 AND {_ACTIVE}", class_id
    )
    return {to_global_id("Student", r["student_id"]) for r in rows}


async def _taught_class(db: asyncpg.Connection) -> int:
    """A class the teacher teaches, with students."""
    return int(
        await db.fetchval(
            f"SELECT e.class_id FROM enrollment e WHERE e.class_id IN ({_TAUGHT}) AND {_ACTIVE}"
            " GROUP BY e.class_id ORDER BY count(*) DESC, e.class_id LIMIT 1"
        )
    )


async def _untaught_class(db: asyncpg.Connection) -> int:
    """A class at the teacher's school they do not teach, sharing the most students with theirs:
    the class whose roster a leak would show the teacher."""
    return int(
        await db.fetchval(
            f"""
            SELECT e.class_id FROM enrollment e JOIN class_section c ON c.id = e.class_id
            WHERE {_ACTIVE} AND e.class_id NOT IN ({_TAUGHT})
              AND c.school_id = (SELECT school_id FROM class_section WHERE id IN ({_TAUGHT})
                                 LIMIT 1)
              AND e.student_id IN (SELECT e.student_id FROM enrollment e
                                   WHERE e.class_id IN ({_TAUGHT}) AND {_ACTIVE})
            GROUP BY e.class_id ORDER BY count(*) DESC, e.class_id LIMIT 1
            """
        )
    )


async def _other_district_class(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval(
            "SELECT c.id FROM class_section c WHERE c.district_id <> "
            "(SELECT district_id FROM app_user WHERE username = 'teacher')"
            f" AND EXISTS (SELECT 1 FROM enrollment e WHERE e.class_id = c.id AND {_ACTIVE})"
            " ORDER BY c.id LIMIT 1"
        )
    )


def _refusal(response: GraphQLResponse) -> tuple[int, str, str]:
    """The refusal as the caller sees it, to compare two of them."""
    assert response.data is None, response.body
    [error] = response.errors
    assert error["extensions"]["code"] == "FORBIDDEN", error
    return response.status, error["message"], error["extensions"]["fieldClass"]


async def test_teacher_filters_by_a_class_they_teach(gql: Gql, db: asyncpg.Connection) -> None:
    taught = await _taught_class(db)
    response = await gql(BY_CLASS, as_user="teacher", variables={"id": cid(taught)})
    listed = response.ok()["students"]
    assert {n["id"] for n in nodes(listed)} == await _enrolled(db, taught)
    assert listed["totalCount"] == len(await _enrolled(db, taught))


async def test_teacher_cannot_filter_by_a_class_they_do_not_teach(
    gql: Gql, db: asyncpg.Connection
) -> None:
    untaught = await _untaught_class(db)
    # What a leak would show: the teacher's own students who are also in that class.
    assert await _enrolled(db, untaught) & await _enrolled(db, await _taught_class(db))
    refused = _refusal(await gql(BY_CLASS, as_user="teacher", variables={"id": cid(untaught)}))
    assert refused[2] == "academic"
    # Another district's class and a class that does not exist get the very same answer.
    for other in (cid(await _other_district_class(db)), NONEXISTENT_CLASS):
        response = await gql(BY_CLASS, as_user="teacher", variables={"id": other})
        assert _refusal(response) == refused


@pytest.mark.parametrize("official", ["coordinator", "designee"])
async def test_officials_without_a_grant_see_no_enrollment(
    gql: Gql, db: asyncpg.Connection, official: str
) -> None:
    """Directory only (SPEC §5): neither the filter nor the roster tells them who is in a class."""
    klass = await _taught_class(db)  # at their school, with students
    refused = _refusal(await gql(BY_CLASS, as_user=official, variables={"id": cid(klass)}))
    response = await gql(BY_CLASS, as_user=official, variables={"id": NONEXISTENT_CLASS})
    assert _refusal(response) == refused

    roster = (await gql(ROSTER, as_user=official, variables={"id": cid(klass)})).ok()["class"]
    assert roster["id"] == cid(klass)  # the class itself is organisational, and listed
    assert roster["students"] == {"totalCount": 0, "edges": []}
    listed = await gql(
        "{ classes(first: 500) { edges { node { students(first: 100) { edges { node { id } } }"
        " } } } }",
        as_user=official,
    )
    assert all(not c["students"]["edges"] for c in nodes(listed.ok()["classes"]))


async def test_teacher_roster_of_a_class_they_do_not_teach(
    gql: Gql, db: asyncpg.Connection
) -> None:
    """A public class the teacher does not teach is listed, its students are not (they are the
    teacher's students too: the roster would say they attend it)."""
    public = await db.fetchval(
        f"""
        SELECT e.class_id FROM enrollment e JOIN class_section c ON c.id = e.class_id
        WHERE c.visibility = 'PUBLIC' AND {_ACTIVE} AND e.class_id NOT IN ({_TAUGHT})
          AND e.student_id IN (SELECT e.student_id FROM enrollment e
                               WHERE e.class_id IN ({_TAUGHT}) AND {_ACTIVE})
        ORDER BY e.class_id LIMIT 1
        """
    )
    assert public is not None
    roster = (await gql(ROSTER, as_user="teacher", variables={"id": cid(public)})).ok()["class"]
    assert roster["students"]["edges"] == []

    taught = await _taught_class(db)
    roster = (await gql(ROSTER, as_user="teacher", variables={"id": cid(taught)})).ok()["class"]
    assert {n["id"] for n in nodes(roster["students"])} == await _enrolled(db, taught)


async def test_student_sees_themselves_on_their_class_roster_not_classmates(
    gql: Gql, db: asyncpg.Connection
) -> None:
    """A classmate releases first name and display name, not where they are enrolled."""
    response = await gql(
        "{ viewer { student { id classes { students(first: 1000) { edges { node { id } } } } } } }",
        as_user="student",
    )
    me = response.ok()["viewer"]["student"]
    assert me["classes"]
    for klass in me["classes"]:
        assert [n["id"] for n in nodes(klass["students"])] == [me["id"]]
    classmates = await gql(
        BY_CLASS,
        as_user="student",
        variables={"id": cid(await _taught_class(db))},
    )
    _refusal(classmates)


# --- a grant, and a policy line, change it ----------------------------------------------------

GRANT = """
mutation ($input: GrantLegitimateInterestInput!) {
  grantLegitimateInterest(input: $input) { grant { id } userErrors { code message } }
}
"""
REVOKE = (
    "mutation ($id: ID!) { revokeLegitimateInterest(input: {id: $id}) { userErrors { code } } }"
)


async def test_class_grant_releases_that_roster(gql: Gql, db: asyncpg.Connection) -> None:
    klass = await _untaught_class(db)
    designee = await db.fetchval("SELECT id FROM app_user WHERE username = 'designee'")
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    granted = await gql(
        GRANT,
        as_user="coordinator",
        variables={
            "input": {
                "granteeId": to_global_id("StaffMember", designee),
                "scope": "CLASS",
                "targetId": cid(klass),
                "purpose": "attendance review",
                "expiresAt": expires.isoformat(),
            }
        },
    )
    grant = granted.ok()["grantLegitimateInterest"]
    assert grant["userErrors"] == [], grant
    try:
        roster = await gql(ROSTER, as_user="designee", variables={"id": cid(klass)})
        listed = {n["id"] for n in nodes(roster.ok()["class"]["students"])}
        assert listed == await _enrolled(db, klass)
        # The grant relates the designee to those students, whose enrollment history is then
        # theirs to read: in another class's roster only they appear.
        other = await _taught_class(db)
        roster = await gql(ROSTER, as_user="designee", variables={"id": cid(other)})
        listed = {n["id"] for n in nodes(roster.ok()["class"]["students"])}
        assert listed == await _enrolled(db, other) & await _enrolled(db, klass)
        assert listed != await _enrolled(db, other)
    finally:
        revoked = await gql(REVOKE, as_user="coordinator", variables={"id": grant["grant"]["id"]})
        assert revoked.ok()["revokeLegitimateInterest"]["userErrors"] == []


@pytest.fixture
async def policy_with_line(
    database_url: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[GraphQLResponse]]]:
    """An app whose policy has one more line: coordinators read the classes of their school's
    students."""
    shutil.copytree(policy.POLICY_DIR, tmp_path, dirs_exist_ok=True)
    with (tmp_path / "policy.csv").open("a") as handle:
        handle.write("p, coordinator, school_official, Student.classes, read\n")
    settings = dataclasses.replace(get_settings(), policy_dir=tmp_path)
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def run(query: str, *, token: str, variables: dict[str, str]) -> GraphQLResponse:
                response = await client.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
                return GraphQLResponse(response.status_code, response.json())

            yield run


async def test_a_policy_line_releases_enrollment(
    policy_with_line: Callable[..., Awaitable[GraphQLResponse]],
    db: asyncpg.Connection,
    token_for: Callable[[str], Awaitable[str]],
) -> None:
    klass = await _taught_class(db)
    enrolled = await _enrolled(db, klass)
    token = await token_for("coordinator")
    listed = await policy_with_line(BY_CLASS, token=token, variables={"id": cid(klass)})
    assert {n["id"] for n in nodes(listed.ok()["students"])} == enrolled
    roster = await policy_with_line(ROSTER, token=token, variables={"id": cid(klass)})
    assert {n["id"] for n in nodes(roster.ok()["class"]["students"])} == enrolled
    # The designee has no such line.
    token = await token_for("designee")
    _refusal(await policy_with_line(BY_CLASS, token=token, variables={"id": cid(klass)}))


# --- the row scope, narrowed ------------------------------------------------------------------


@pytest.mark.parametrize(
    "account",
    ["admin", "principal", "coordinator", "designee", "teacher", "guardian", "student", "support"],
)
async def test_scope_where_narrows_the_row_scope(database_url: str, account: str) -> None:
    """Every pair allowed gives the whole row scope; the pairs of one object, the part of it
    the policy lets the viewer read that object in."""
    engine = create_engine(database_url)
    try:
        async with transaction(engine) as connection:
            user = (
                await connection.execute(
                    text("SELECT id FROM app_user WHERE username = :name"), {"name": account}
                )
            ).scalar_one()
            viewer = await load_viewer(connection, user_id=user)
    finally:
        await engine.dispose()
    assert viewer is not None
    assert viewer.scope_where(-1) == viewer.scope()
    assert viewer.scope_where(0).empty
    compiled = policy.load_policy()
    classes = viewer.scope_where(compiled.mask("Student.classes"))
    everything = viewer.scope()
    assert classes.student_ids <= everything.student_ids
    assert classes.school_ids <= everything.school_ids
    # Who may read enrollments (SPEC §5): admins of their school or district, guardians of their
    # children, a student of themselves; a teacher only in their own classes (not here).
    none: frozenset[int] = frozenset()
    schools = frozenset(s for _, s in viewer.roles if s is not None)
    expected = {
        "admin": RowScope(viewer.district_id, none, none, whole_district=True),
        "principal": RowScope(viewer.district_id, none, schools, whole_district=False),
        "guardian": RowScope(viewer.district_id, viewer.guardian_of, none, whole_district=False),
        "student": RowScope(
            viewer.district_id, frozenset({viewer.student_id}), none, whole_district=False
        ),
    }.get(account, RowScope(viewer.district_id, none, none, whole_district=False))
    assert classes == expected
