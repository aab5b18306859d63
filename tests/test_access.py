"""Asking about access (`myAccess`, `explainAccess`, `policy matrix`), changing the policy
without a restart, and the record of disclosures (district query, append-only, hash chain)."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app import policy, policy_sync
from app.asgi import create_app
from app.config import get_settings
from app.database import create_engine
from app.seals import verify_chain
from tests.helpers import GraphQLResponse, forbidden_errors, nodes, serving
from tests.test_policy import _TAUGHT_BY, _classmate, _pick, _student_of, _user_id, sid

Gql = Callable[..., Awaitable[GraphQLResponse]]

MY_ACCESS = """
query ($id: ID!) {
  myAccess(studentId: $id) {
    relations portfolioVisibilities writes
    fields { field fieldClass allowed ownClassesOnly }
  }
}
"""


async def test_my_access_for_a_teacher(gql: Gql, db: asyncpg.Connection) -> None:
    pupil = await _pick(db, f"s.id IN ({_TAUGHT_BY})")
    access = (await gql(MY_ACCESS, as_user="teacher", variables={"id": sid(pupil)})).ok()
    result = access["myAccess"]
    fields = {f["field"]: f for f in result["fields"]}
    assert result["relations"] == ["teacher_of"]
    assert fields["email"]["allowed"] and fields["email"]["fieldClass"] == "contact"
    assert not fields["gender"]["allowed"]
    assert fields["marks"] == {
        "field": "marks",
        "fieldClass": "academic",
        "allowed": True,
        "ownClassesOnly": True,
    }
    assert not fields["readiness"]["allowed"]
    assert sorted(result["portfolioVisibilities"]) == ["COORDINATOR", "TEACHERS"]
    assert result["writes"] == ["Mark"]


async def test_my_access_matches_what_a_query_releases(gql: Gql, db: asyncpg.Connection) -> None:
    """What `myAccess` promises is exactly what a query of every field is allowed."""
    mate = await _classmate(db)
    access = (await gql(MY_ACCESS, as_user="student", variables={"id": sid(mate)})).ok()
    fields = [f for f in access["myAccess"]["fields"] if f["field"] != "school"]
    selection = " ".join(f["field"] for f in fields)
    for name in (
        "guardians",
        "marks",
        "readiness",
        "classes",
        "disclosures",
        "statements",
        "consents",
    ):
        selection = selection.replace(name, name + " { __typename }")
    selection = selection.replace("portfolio", "portfolio { headline }")
    response = await gql(
        f"query ($id: ID!) {{ student(id: $id) {{ {selection} }} }}",
        as_user="student",
        variables={"id": sid(mate)},
    )
    denied = forbidden_errors(response)
    for f in fields:
        assert (f"student.{f['field']}" not in denied) == f["allowed"], f["field"]


async def test_my_access_of_an_unrelated_student_is_null(gql: Gql, db: asyncpg.Connection) -> None:
    outsider = await _pick(db, f"s.id NOT IN ({_TAUGHT_BY})")
    response = await gql(MY_ACCESS, as_user="teacher", variables={"id": sid(outsider)})
    assert response.ok() == {"myAccess": None}


EXPLAIN = """
query ($student: ID!, $field: String!, $user: String!) {
  explainAccess(studentId: $student, field: $field, username: $user) {
    allowed fieldClass relations matchedLine reason roles
  }
}
"""


async def test_explain_access(gql: Gql, db: asyncpg.Connection) -> None:
    pupil = await _pick(db, f"s.id IN ({_TAUGHT_BY})")
    same_school = "s.school_id = (SELECT school_id FROM student WHERE id = $1)"
    outsider = await _pick(db, f"s.id NOT IN ({_TAUGHT_BY}) AND {same_school}", pupil)

    async def explain(student: int, field: str) -> dict[str, object]:
        variables = {"student": sid(student), "field": field, "user": "teacher"}
        response = await gql(EXPLAIN, as_user="admin", variables=variables)
        return dict(response.ok()["explainAccess"])

    email = await explain(pupil, "email")
    assert email["allowed"] is True
    assert email["matchedLine"] == "p, teacher, teacher_of, Student.contact, read"
    assert "teacher/teacher_of" in email["relations"]
    gender = await explain(pupil, "gender")
    assert gender["allowed"] is False and gender["matchedLine"] is None
    assert "no policy line" in str(gender["reason"])
    unrelated = await explain(outsider, "firstName")
    assert unrelated["allowed"] is False
    assert unrelated["relations"] == []


async def test_explain_access_is_for_admins(gql: Gql, db: asyncpg.Connection) -> None:
    pupil = await _pick(db, f"s.id IN ({_TAUGHT_BY})")
    variables = {"student": sid(pupil), "field": "email", "user": "teacher"}
    response = await gql(EXPLAIN, as_user="teacher", variables=variables)
    assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"
    bad = await gql(EXPLAIN, as_user="admin", variables={**variables, "field": "password"})
    assert bad.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_policy_matrix_is_the_spec_table() -> None:
    """`schoolgraph policy matrix`, computed from the files, against SPEC §5 copied by hand."""
    table = {row[0]: row[1:] for row in policy.matrix(policy.load_policy())[1:]}
    both = ["all items"]
    assert table["self"] == ["yes", "yes", "yes", "yes", *both, "yes"]
    assert table["guardian_of"] == ["yes", "yes", "yes", "yes", *both, "yes"]
    assert table["teacher_of"] == [
        "yes", "yes", "no", "marks of own classes only", "`TEACHERS` and `COORDINATOR` items", "no"
    ]  # fmt: skip
    assert table["classmate"] == [
        "`firstName` and `displayName` only",
        "no",
        "no",
        "no",
        "no",
        "no",
    ]
    for official in ("coordinator", "designee"):
        assert table[f"school_official ({official})"] == ["yes", "no", "no", "no", "no", "no"]
        assert table[f"legitimate_interest ({official})"] == [
            "yes", "yes", "yes", "yes", "`COORDINATOR` items", "no"
        ]  # fmt: skip
    for admin in ("school_admin", "district_admin"):
        assert table[admin] == ["yes", "yes", "yes", "yes", "no", "yes"]
    for nobody in ("other staff (teacher, not teacher_of)", "reporting", "support (no grant)"):
        assert table[nobody] == ["no"] * 6


def test_policy_check_finds_bad_lines(tmp_path: Path) -> None:
    shutil.copytree(policy.POLICY_DIR, tmp_path, dirs_exist_ok=True)
    assert policy.check(tmp_path) == []
    with (tmp_path / "policy.csv").open("a") as handle:
        handle.write("p, janitor, teacher_of, Student.email, read\n")
        handle.write("p, teacher, teacher_of, Student.shoeSize, read\n")
    problems = policy.check(tmp_path)
    assert any("unknown role 'janitor'" in p for p in problems)
    assert any("unknown object 'Student.shoeSize'" in p for p in problems)


# --- reload without restart -----------------------------------------------------------------


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A copy of `policies/` that the test may edit."""
    shutil.copytree(policy.POLICY_DIR, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _app_reading(database_url: str, directory: Path) -> Starlette:
    return create_app(
        dataclasses.replace(get_settings(), policy_dir=directory), database_url=database_url
    )


def _withhold_classmates_first_names(directory: Path) -> None:
    policy_file = directory / "policy.csv"
    policy_file.write_text(
        policy_file.read_text().replace("p, student, classmate, Student.firstName, read\n", "")
    )


async def _classmates_first_name(
    client: httpx.AsyncClient, db: asyncpg.Connection, token_for: Callable[[str], Awaitable[str]]
) -> object:
    response = await client.post(
        "/graphql",
        json={
            "query": "query ($id: ID!) { student(id: $id) { firstName } }",
            "variables": {"id": sid(await _classmate(db))},
        },
        headers={"Authorization": f"Bearer {await token_for('student')}"},
    )
    return response.json()["data"]["student"]["firstName"]


async def test_editing_a_policy_line_changes_behaviour_after_notify(
    policy_copy: Path,
    database_url: str,
    db: asyncpg.Connection,
    token_for: Callable[[str], Awaitable[str]],
) -> None:
    async with serving(_app_reading(database_url, policy_copy)) as client:
        assert await _classmates_first_name(client, db, token_for) is not None
        _withhold_classmates_first_names(policy_copy)
        await policy_sync.notify(database_url)
        for _ in range(100):  # the listener runs on its own connection; give it a moment
            if await _classmates_first_name(client, db, token_for) is None:
                break
            await asyncio.sleep(0.05)
        assert await _classmates_first_name(client, db, token_for) is None


async def test_a_change_notified_before_a_worker_listens_still_reaches_it(
    policy_copy: Path,
    database_url: str,
    db: asyncpg.Connection,
    token_for: Callable[[str], Awaitable[str]],
) -> None:
    """A worker reads the files, then starts listening; a reload notified in between (another
    worker was up already) would pass it by, and it would serve the old policy until the next."""
    app = _app_reading(database_url, policy_copy)
    _withhold_classmates_first_names(policy_copy)
    await policy_sync.notify(database_url)
    async with serving(app) as client:
        assert await _classmates_first_name(client, db, token_for) is None


# --- the record of disclosures --------------------------------------------------------------


async def test_the_record_of_disclosures_is_for_admins_only(
    gql: Gql, db: asyncpg.Connection
) -> None:
    """District admins read the district's record, school admins their schools' (the child is
    at the principal's school; tests/test_breach.py checks the other schools stay out)."""
    child = await _student_of(db, "student")
    await gql("query ($id: ID!) { student(id: $id) { email } }", as_user="guardian",
              variables={"id": sid(child)})  # fmt: skip
    query = """query ($id: ID!) { disclosures(first: 5, studentId: $id) {
        edges { node { basis fieldClasses viewerName } } pageInfo { hasNextPage endCursor } } }"""
    response = await gql(query, as_user="admin", variables={"id": sid(child)})
    latest = nodes(response.ok()["disclosures"])[0]
    assert latest["basis"] == "guardian_of"
    assert latest["fieldClasses"] == ["contact"]
    principal = await gql(query, as_user="principal", variables={"id": sid(child)})
    assert nodes(principal.ok()["disclosures"])[0] == latest
    for account in ("teacher", "guardian"):
        refused = await gql(query, as_user=account, variables={"id": sid(child)})
        assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
    # The student and their guardian read the same record on the student.
    own = await gql(
        "query ($id: ID!) { student(id: $id) { disclosures { basis } } }",
        as_user="student",
        variables={"id": sid(child)},
    )
    assert "guardian_of" in {d["basis"] for d in own.ok()["student"]["disclosures"]}


@pytest.fixture
async def disclosed(gql: Gql, db: asyncpg.Connection) -> None:
    """A few disclosures on record, whatever ran before."""
    response = await gql("{ students(first: 5) { edges { node { email } } } }", as_user="admin")
    assert len(nodes(response.ok()["students"])) == 5


@pytest.mark.usefixtures("disclosed")
async def test_disclosures_are_append_only(db: asyncpg.Connection) -> None:
    some = await db.fetchval("SELECT id FROM disclosure LIMIT 1")
    for statement in ("UPDATE disclosure SET purpose = 'edited' WHERE id = $1",
                      "DELETE FROM disclosure WHERE id = $1"):  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(statement, some)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("TRUNCATE disclosure")


@pytest.mark.usefixtures("disclosed")
async def test_what_the_record_names_cannot_be_deleted(db: asyncpg.Connection) -> None:
    """The district, viewer and student of a disclosure are not foreign keys (not checked row by
    row: migration 0012), yet none can go while the record names it."""
    row = await db.fetchrow("SELECT district_id, viewer_user_id, student_id FROM disclosure")
    refused = [
        ("DELETE FROM app_user WHERE id = $1", row["viewer_user_id"]),
        ("UPDATE app_user SET id = -id WHERE id = $1", row["viewer_user_id"]),
        ("DELETE FROM district WHERE id = $1", row["district_id"]),
        ("DELETE FROM student WHERE id = $1", row["student_id"]),
    ]
    for statement, value in refused:
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="record of disclosures names"):
            async with db.transaction():
                await db.execute(statement, value)
    async with db.transaction():  # other changes to those rows go through
        await db.execute(
            "UPDATE app_user SET first_name = first_name WHERE id = $1", row["viewer_user_id"]
        )
    assert await db.fetchval("SELECT count(*) FROM app_user WHERE id = $1", row["viewer_user_id"])


@pytest.mark.usefixtures("disclosed")
async def test_audit_verify_finds_an_edited_row(database_url: str, db: asyncpg.Connection) -> None:
    key = get_settings().audit_key
    engine = create_engine(database_url, get_settings())
    try:
        async with engine.connect() as connection:
            out, _ = await verify_chain(connection, key)
        assert out.rows > 0 and out.intact, out.problems
        target = await db.fetchrow(
            "SELECT id, purpose FROM disclosure ORDER BY id LIMIT 1 OFFSET 2"
        )
        # Only a superuser can get around the trigger; the row's MAC still shows it.
        await db.execute("ALTER TABLE disclosure DISABLE TRIGGER USER")
        try:
            await db.execute(
                "UPDATE disclosure SET purpose = 'tampered' WHERE id = $1", target["id"]
            )
            async with engine.connect() as connection:
                out, _ = await verify_chain(connection, key)
            assert not out.intact
            assert any(f"disclosure {target['id']} does not match" in p for p in out.problems)
        finally:
            await db.execute(
                "UPDATE disclosure SET purpose = $2 WHERE id = $1", target["id"], target["purpose"]
            )
            await db.execute("ALTER TABLE disclosure ENABLE TRIGGER USER")
        async with engine.connect() as connection:
            assert (await verify_chain(connection, key))[0].intact
    finally:
        await engine.dispose()


async def test_grantee_and_principal_see_the_grant(gql: Gql, db: asyncpg.Connection) -> None:
    from tests.test_policy import GRANT, REVOKE, grant_input

    school = await db.fetchval(
        "SELECT school_id FROM role_assignment ra JOIN app_user u ON u.id = ra.user_id"
        " WHERE u.username = 'designee'"
    )
    pupil = await _pick(db, "s.id % 11 = 5 AND s.school_id = $1", school)
    granted = await gql(
        GRANT, as_user="coordinator", variables=grant_input(await _user_id(db, "designee"), pupil)
    )
    grant_id = granted.ok()["grantLegitimateInterest"]["grant"]["id"]
    try:
        for account in ("designee", "coordinator", "principal", "admin"):
            listed = await gql("{ legitimateInterestGrants { id purpose } }", as_user=account)
            assert grant_id in {g["id"] for g in listed.ok()["legitimateInterestGrants"]}, account
        listed = await gql("{ legitimateInterestGrants { id } }", as_user="teacher")
        assert grant_id not in {g["id"] for g in listed.ok()["legitimateInterestGrants"]}
        node = "query ($id: ID!) { node(id: $id) { ... on LegitimateInterestGrant { purpose } } }"
        for account in ("designee", "principal", "teacher"):
            found = (await gql(node, as_user=account, variables={"id": grant_id})).ok()["node"]
            assert (found is None) == (account == "teacher"), account
    finally:
        await gql(REVOKE, as_user="coordinator", variables={"id": grant_id})
