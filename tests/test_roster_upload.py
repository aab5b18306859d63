"""Roster imports over HTTP (`POST /roster/imports`) as the server's least-privilege role, and
their record in GraphQL (`rosterImports`)."""

from __future__ import annotations

import dataclasses
import io
import uuid
import zipfile
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from app.asgi import create_app
from app.auth import issue_token
from app.config import get_settings
from tests.test_roster_gradebook import _gradebook
from tests.test_roster_import import _set_11

RUNS_QUERY = """
query ($first: Int, $after: String) {
  rosterImports(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id status dryRun version username errorCount warningCount errors warnings
                   counts startedAt finishedAt } }
  }
}
"""


def _zip(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body.strip("\n") + "\n")
    return out.getvalue()


@pytest.fixture
def tag() -> str:
    return "u" + uuid.uuid4().hex[:8]


@pytest.fixture
async def district_admin(db: asyncpg.Connection, tag: str) -> AsyncIterator[tuple[int, str]]:
    """A new, empty district with one district administrator: (district id, username)."""
    district_id = await db.fetchval(
        "INSERT INTO district (name) VALUES ($1) RETURNING id", f"{tag} upload district"
    )
    user_id = await db.fetchval(
        "INSERT INTO app_user (district_id, username, first_name, last_name)"
        " VALUES ($1, $2, 'Dana', 'Admin') RETURNING id",
        district_id,
        f"{tag}.admin",
    )
    await db.execute(
        "INSERT INTO role_assignment (district_id, user_id, role)"
        " VALUES ($1, $2, 'district_admin')",
        district_id,
        user_id,
    )
    yield int(district_id), f"{tag}.admin"


def _bearer(db_user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(db_user_id, get_settings())}"}


async def _headers(db: asyncpg.Connection, username: str) -> dict[str, str]:
    user_id = await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
    return _bearer(int(user_id))


async def _students(db: asyncpg.Connection, district_id: int) -> int:
    return int(
        await db.fetchval("SELECT count(*) FROM student WHERE district_id = $1", district_id)
    )


async def test_a_district_admin_dry_runs_then_applies_and_both_runs_are_listed(
    client, db, gql, tag, district_admin
):
    district_id, username = district_admin
    headers = {**await _headers(db, username), "Content-Type": "application/zip"}
    body = _zip(_set_11(tag))

    dry = await client.post("/roster/imports?dryRun=true", content=body, headers=headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["status"] == "validated" and dry.json()["dryRun"] is True
    assert dry.json()["counts"]["students"]["inserted"] == 3
    assert dry.json()["errors"] == [] and dry.json()["errorCount"] == 0
    # A bulk set with passwords and vendor columns: warnings in the usual form.
    assert "users.csv:2: password: passwords are never imported" in dry.json()["warnings"]
    assert await _students(db, district_id) == 0

    applied = await client.post("/roster/imports?dryRun=false", content=body, headers=headers)
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "applied"
    assert applied.json()["counts"]["students"]["inserted"] == 3
    assert await _students(db, district_id) == 3
    # Into the administrator's own district, whatever the set's district org says.
    assert await db.fetchval("SELECT count(*) FROM school WHERE district_id = $1", district_id) == 2

    again = await client.post("/roster/imports?dryRun=false", content=body, headers=headers)
    assert again.json()["counts"]["students"] == {
        "inserted": 0, "updated": 0, "ended": 0, "unchanged": 3
    }  # fmt: skip

    page = await gql(RUNS_QUERY, as_user=username, variables={"first": 2})
    assert not page.errors, page.body
    runs = page.data["rosterImports"]
    assert runs["totalCount"] == 3 and runs["pageInfo"]["hasNextPage"] is True
    newest, second = (e["node"] for e in runs["edges"])
    assert newest["id"] == again.json()["id"] and second["id"] == applied.json()["id"]
    assert (second["status"], second["dryRun"], second["username"]) == ("applied", False, username)
    assert second["counts"]["students"]["inserted"] == 3 and second["version"] == "1.1"
    rest = await gql(
        RUNS_QUERY,
        as_user=username,
        variables={"first": 2, "after": runs["pageInfo"]["endCursor"]},
    )
    (oldest,) = (e["node"] for e in rest.data["rosterImports"]["edges"])
    assert (oldest["id"], oldest["status"], oldest["dryRun"]) == (
        dry.json()["id"], "validated", True
    )  # fmt: skip
    assert oldest["warnings"] == dry.json()["warnings"]


async def test_a_set_with_errors_answers_422_writes_nothing_and_is_recorded(
    client, db, gql, tag, district_admin
):
    district_id, username = district_admin
    files = _set_11(tag)
    files["enrollments.csv"] += f"{tag}-e9,,,{tag}-k1,{tag}-s1,{tag}-nobody,student,,,\n"
    response = await client.post(
        "/roster/imports?dryRun=false",
        content=_zip(files),
        headers={**await _headers(db, username), "Content-Type": "application/zip"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["status"] == "failed"
    assert response.json()["errors"] == [
        f"enrollments.csv:7: userSourcedId: no such user: '{tag}-nobody'"
    ]
    assert await _students(db, district_id) == 0
    page = await gql(RUNS_QUERY, as_user=username)
    (run,) = (e["node"] for e in page.data["rosterImports"]["edges"])
    assert (run["status"], run["errorCount"]) == ("failed", 1)
    assert run["errors"] == response.json()["errors"]


async def test_a_multipart_form_uploads_the_set_as_its_file_part(client, db, tag, district_admin):
    district_id, username = district_admin
    response = await client.post(
        "/roster/imports?dryRun=false",
        files={"file": ("district.zip", _zip(_set_11(tag)), "application/zip")},
        headers=await _headers(db, username),
    )
    assert response.status_code == 200, response.text
    assert await _students(db, district_id) == 3
    no_file = await client.post(
        "/roster/imports", data={"other": "x"}, headers=await _headers(db, username)
    )
    assert no_file.status_code == 400
    assert no_file.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_only_district_admins_upload_and_read_the_runs(client, db, gql, tag):
    body = _zip(_set_11(tag))
    anonymous = await client.post("/roster/imports", content=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for username in ("teacher", "principal"):
        refused = await client.post(
            "/roster/imports", content=body, headers=await _headers(db, username)
        )
        assert refused.status_code == 403, (username, refused.text)
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        page = await gql(RUNS_QUERY, as_user=username)
        assert page.data is None or page.data.get("rosterImports") is None
        assert page.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await db.fetchval("SELECT count(*) FROM district WHERE sourced_id = $1", f"{tag}-d") == 0


async def test_bad_bodies_and_parameters_are_refused_with_codes(client, db, district_admin):
    _, username = district_admin
    headers = await _headers(db, username)
    not_zip = await client.post("/roster/imports", content=b"sourcedId,name\n", headers=headers)
    assert not_zip.status_code == 400
    error = not_zip.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "zip" in error["message"]
    flag = await client.post("/roster/imports?dryRun=maybe", content=b"", headers=headers)
    assert flag.status_code == 400 and "dryRun" in flag.json()["errors"][0]["message"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM roster_import r JOIN app_user u ON u.id = r.user_id"
            " WHERE u.username = $1",
            username,
        )
        == 0
    )


async def test_an_upload_past_its_own_limit_answers_413(database_url, db, district_admin):
    _, username = district_admin
    settings = dataclasses.replace(get_settings(), max_roster_upload_bytes=1000)
    application = create_app(settings, database_url=database_url)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
        response = await c.post(
            "/roster/imports", content=b"x" * 1001, headers=await _headers(db, username)
        )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_an_uploaded_gradebook_becomes_marks_as_the_app_role(client, db, tag, district_admin):
    district_id, username = district_admin
    response = await client.post(
        "/roster/imports?dryRun=false",
        content=_zip(_gradebook(tag)),
        headers={**await _headers(db, username), "Content-Type": "application/zip"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["marks"]["inserted"] == 2
    assert await db.fetchval("SELECT count(*) FROM mark WHERE district_id = $1", district_id) == 2
