"""Errors and descriptions that say what would grant access: FORBIDDEN errors name the readers the
policy allows (and a grant the viewer could be given), map to the rows they cover, and every field
a field class governs describes its class and readers, all computed from `policies/`."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from graphql import GraphQLObjectType, build_schema

from app import policy
from app.cli import SCHEMA_FILE
from app.config import get_settings
from schema import create_schema
from schema.redactions import runs
from tests.helpers import GraphQLResponse, app_client, forbidden_errors, nodes
from tests.live import node_packages, run_node
from tests.test_policy import GRANT, REVOKE, _school_a, _student_of, _user_id, grant_input, sid

Gql = Callable[..., Awaitable[GraphQLResponse]]
TokenFor = Callable[[str], Awaitable[str]]

GRANT_HINT = "under a legitimate-interest grant that covers the student (grantLegitimateInterest"


def _rows(indexes: list[list[int]]) -> set[tuple[int, ...]]:
    """The positions a run list stands for, as a frontend expands it (docs/errors.md)."""
    return {(*run[:-2], i) for run in indexes for i in range(run[-2], run[-1] + 1)}


# --- what would grant access ------------------------------------------------------------------


async def test_a_designee_is_told_a_grant_would_release_the_portfolio(gql: Gql) -> None:
    response = await gql(
        "{ students(first: 5) { edges { node { portfolio { items { title } } } } } }",
        as_user="designee",
    )
    error = forbidden_errors(response)["students.edges.*.node.portfolio"]
    message = next(e["message"] for e in response.errors if e["extensions"] is error)
    assert "A designee may read portfolio fields (COORDINATOR items)" in message
    assert GRANT_HINT in message
    assert "by a coordinator, a school admin or a district admin" in message
    assert {
        "role": "designee",
        "relation": "legitimate_interest",
        "needsGrant": True,
        "limitedTo": ["COORDINATOR"],
    } in error["grantedBy"]
    assert {"role": "student", "relation": "self", "needsGrant": False} in error["grantedBy"]
    # The keys clients already read are still there.
    assert error["fieldClass"] == "portfolio"
    assert error["count"] == 5
    assert error["reason"]


async def test_a_teacher_without_a_grant_route_gets_the_readers_only(gql: Gql) -> None:
    response = await gql("{ students(first: 20) { edges { node { gender } } } }", as_user="teacher")
    error = forbidden_errors(response)["students.edges.*.node.gender"]
    message = next(e["message"] for e in response.errors if e["extensions"] is error)
    assert message.startswith("Not authorized to read students.edges.*.node.gender (demographic).")
    assert "Readable by the student; the student's guardians;" in message
    assert "A teacher may" not in message  # no policy line gives a teacher demographics
    assert "teacher" not in {reader["role"] for reader in error["grantedBy"]}
    assert error["indexes"] == [[0, error["count"] - 1]]


async def test_a_single_value_has_no_indexes(gql: Gql, db: asyncpg.Connection) -> None:
    mate = await db.fetchval(
        "SELECT e2.student_id FROM enrollment e1 JOIN enrollment e2 ON e2.class_id = e1.class_id"
        " WHERE e1.student_id = $1 AND e2.student_id <> $1 LIMIT 1",
        await _student_of(db, "student"),
    )
    response = await gql(
        "query ($id: ID!) { student(id: $id) { firstName lastName } }",
        as_user="student",
        variables={"id": sid(mate)},
    )
    error = forbidden_errors(response)["student.lastName"]
    assert "indexes" not in error
    message = response.errors[0]["message"]
    assert "Readable by the student;" in message
    assert "A student may" not in message
    assert "classmates" not in message  # a classmate reads the first name, not this one


async def test_a_client_maps_each_error_to_the_rows_it_covers(
    gql: Gql, db: asyncpg.Connection
) -> None:
    """A designee with a grant for one student: every other row's email is withheld, and the
    error's runs say exactly which rows those are."""
    pupil = await db.fetchval(
        "SELECT id FROM student WHERE school_id = $1 AND email IS NOT NULL"
        " ORDER BY last_name, first_name, id LIMIT 1",
        await _school_a(db),
    )
    granted = await gql(
        GRANT, as_user="coordinator", variables=grant_input(await _user_id(db, "designee"), pupil)
    )
    grant = granted.ok()["grantLegitimateInterest"]["grant"]
    try:
        response = await gql(
            "{ students(first: 60) { edges { node { id email } } } }", as_user="designee"
        )
        rows = nodes(response.data["students"])
        error = forbidden_errors(response)["students.edges.*.node.email"]
    finally:
        await gql(REVOKE, as_user="coordinator", variables={"id": grant["id"]})
    released = [i for i, row in enumerate(rows) if row["id"] == sid(pupil)]
    assert len(released) == 1 and rows[released[0]]["email"] is not None
    assert _rows(error["indexes"]) == {(i,) for i in range(len(rows)) if i not in released}
    assert error["count"] == len(rows) - 1
    assert len(error["indexes"]) <= 2  # the rows before and after the released one
    for index in _rows(error["indexes"]):
        assert rows[index[0]]["email"] is None


async def test_nested_lists_are_mapped_by_every_index(gql: Gql) -> None:
    response = await gql(
        "{ classes(first: 3, mine: true) { edges { node { students(first: 4) {"
        " edges { node { gender } } } } } } }",
        as_user="teacher",
    )
    error = forbidden_errors(response)["classes.edges.*.node.students.edges.*.node.gender"]
    expected = {
        (c, s)
        for c, klass in enumerate(nodes(response.data["classes"]))
        for s in range(len(nodes(klass["students"])))
    }
    assert _rows(error["indexes"]) == expected
    assert len(error["indexes"]) == 3  # one run per class


async def test_the_documented_client_code_finds_the_withheld_values(gql: Gql) -> None:
    """The function docs/errors.md gives frontends, run in Node over a real response: it finds
    every withheld value and no value that is merely shown."""
    response = await gql(
        "{ classes(first: 2, mine: true) { edges { node { students(first: 3) {"
        " edges { node { email gender } } } } } } }",
        as_user="teacher",
    )
    expected = {
        f"classes.edges.{c}.node.students.edges.{s}.node.gender"
        for c, klass in enumerate(nodes(response.data["classes"]))
        for s, row in enumerate(nodes(klass["students"]))
        if row["gender"] is None
    }
    assert expected
    docs = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    function = docs.split("```js\n", 1)[1].split("```", 1)[0]
    script = (
        function + "console.log(JSON.stringify([...withheldPaths(JSON.parse(process.argv[2]))]));\n"
    )
    printed = run_node(node_packages({}), script, json.dumps(response.body))
    assert set(json.loads(printed)) == expected


def test_runs_are_bounded_by_their_gaps() -> None:
    assert runs([(5,), (0,), (1,), (2,)]) == [[0, 2], [5, 5]]
    assert runs([(1, 3), (0, 0), (1, 2), (0, 1)]) == [[0, 0, 1], [1, 2, 3]]
    assert runs([(i,) for i in range(10_000)]) == [[0, 9_999]]
    assert runs([]) == []


# --- a policy that says something else -------------------------------------------------------


@asynccontextmanager
async def _app_with_policy(
    database_url: str, directory: Path, edit: Callable[[str], str]
) -> AsyncIterator[httpx.AsyncClient]:
    shutil.copytree(policy.POLICY_DIR, directory, dirs_exist_ok=True)
    policy_file = directory / "policy.csv"
    policy_file.write_text(edit(policy_file.read_text()))
    settings = dataclasses.replace(get_settings(), policy_dir=directory)
    async with app_client(settings, database_url) as client:
        yield client


async def test_a_refusal_no_line_explains_keeps_a_plain_message(
    database_url: str, tmp_path: Path, token_for: TokenFor
) -> None:
    def without_demographics(text: str) -> str:
        return "".join(
            line for line in text.splitlines(keepends=True) if "Student.demographic" not in line
        )

    async with _app_with_policy(database_url, tmp_path, without_demographics) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ students(first: 3) { edges { node { gender } } } }"},
            headers={"Authorization": f"Bearer {await token_for('admin')}"},
        )
    [error] = response.json()["errors"]
    assert error["message"] == "Not authorized to read students.edges.*.node.gender (demographic)"
    assert "grantedBy" not in error["extensions"]
    assert error["extensions"]["indexes"] == [[0, 2]]


async def test_a_policy_line_changes_the_description_and_the_refusal(
    database_url: str, tmp_path: Path, token_for: TokenFor
) -> None:
    line = "p, teacher, teacher_of, Student.demographic, read\n"
    described = "teachers of a class the student is enrolled in;"
    default = create_schema()._schema.type_map["Student"]
    assert isinstance(default, GraphQLObjectType)
    assert described not in (default.fields["gender"].description or "")

    async with _app_with_policy(database_url, tmp_path, lambda text: text + line) as client:
        introspected = await client.post(
            "/graphql",
            json={"query": '{ __type(name: "Student") { fields { name description } } }'},
            headers={"Authorization": f"Bearer {await token_for('teacher')}"},
        )
        refused = await client.post(
            "/graphql",
            json={"query": "{ students(first: 3) { edges { node { gender } } } }"},
            headers={"Authorization": f"Bearer {await token_for('designee')}"},
        )
    fields = {f["name"]: f["description"] for f in introspected.json()["data"]["__type"]["fields"]}
    assert described in fields["gender"]
    assert described not in fields["disclosures"]
    [error] = refused.json()["errors"]
    assert described in error["message"]
    assert {"role": "teacher", "relation": "teacher_of", "needsGrant": False} in error[
        "extensions"
    ]["grantedBy"]


# --- descriptions ----------------------------------------------------------------------------


def test_every_governed_field_names_its_class_and_readers_in_the_schema_file() -> None:
    snapshot = build_schema(SCHEMA_FILE.read_text())
    student = snapshot.get_type("Student")
    district = snapshot.get_type("District")
    assert isinstance(student, GraphQLObjectType) and isinstance(district, GraphQLObjectType)
    compiled = policy.load_policy()
    for name, field in student.fields.items():
        if name == "id":
            assert field.description is None
            continue
        cls = compiled.field_class(f"Student.{name}") or compiled.field_class("Student.classes")
        assert f"Field class: {cls}. Readable by " in (field.description or ""), name
    # What was written by hand comes first.
    assert (student.fields["ethnicity"].description or "").startswith(
        "Federal race/ethnicity category.\nField class: demographic."
    )
    assert "Readable by district admins of the district." in (
        district.fields["requireMfa"].description or ""
    )
    assert district.fields["name"].description is None


@pytest.mark.parametrize(
    ("field", "says"),
    [
        ("firstName", "classmates (students sharing a class)"),
        ("marks", "enrolled in (only in the classes they teach)"),
        ("portfolio", "coordinators and designees (COORDINATOR items)"),
        ("disclosures", "district admins of the student's district. Anyone else gets null"),
    ],
)
def test_descriptions_follow_each_fields_own_lines(field: str, says: str) -> None:
    student = create_schema()._schema.type_map["Student"]
    assert isinstance(student, GraphQLObjectType)
    assert says in (student.fields[field].description or "")
