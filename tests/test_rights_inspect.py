"""Inspection requests carried out (app/rights/inspect.py, app/rights/bundle, app/rights_export.py).

Over HTTP as the demo accounts: `guardian` files an INSPECT request for `student`, `admin`
completes it, `guardian` reads the link from `DataRequest.export` and downloads a zip whose JSON
holds the date of birth, the marks, the PRIVATE portfolio items and the record of who saw the
record. Anyone else gets 404, nobody signed in 401, an expired link 410; the download is on the
record. Due dates follow the district's setting; admins list overdue requests.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from app.database import create_engine, start_counting
from app.policy import FIELD_CLASSES
from app.rights.bundle import build_zip, collect
from app.rights.bundle.collect import TABLE_NAMES
from app.rights.bundle.csv import cell
from schema.relay import from_global_id, to_global_id
from tests.helpers import GraphQLResponse

Gql = Callable[..., Awaitable[GraphQLResponse]]
TokenFor = Callable[[str], Awaitable[str]]

FILE = """mutation ($id: ID!, $kind: DataRequestKind!) {
  fileDataRequest(input: {studentId: $id, kind: $kind, details: "Everything, please"}) {
    dataRequest { id status dueOn overdue export { url } } userErrors { code message } } }"""
RESOLVE = """mutation ($id: ID!, $status: DataRequestStatus!) {
  resolveDataRequest(input: {id: $id, status: $status, resolution: "Bundle ready"}) {
    dataRequest { id status export { url expiresAt sizeBytes sha256 } }
    userErrors { code message } } }"""
REQUESTS = """query ($overdue: Boolean) { dataRequests(overdue: $overdue) {
  id kind status dueOn overdue export { url expiresAt sizeBytes sha256 builtAt } } }"""
PLANT = """mutation ($title: String!) { addPortfolioItem(input: {kind: "reflection",
  title: $title, body: "Only my family sees this", visibility: PRIVATE}) {
  item { id } userErrors { code } } }"""


async def _student(db: asyncpg.Connection, username: str = "student") -> int:
    return int(await db.fetchval("SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id"
                                 " WHERE u.username = $1", username))  # fmt: skip


async def _file(gql: Gql, student_id: int, *, as_user: str = "guardian") -> dict[str, Any]:
    filed = await gql(
        FILE,
        as_user=as_user,
        variables={"id": to_global_id("Student", student_id), "kind": "INSPECT"},
    )
    payload = filed.ok()["fileDataRequest"]
    assert payload["userErrors"] == []
    return dict(payload["dataRequest"])


async def _export_of(gql: Gql, request_id: str, as_user: str) -> dict[str, Any] | None:
    listed = (await gql(REQUESTS, as_user=as_user)).ok()["dataRequests"]
    found = [r for r in listed if r["id"] == request_id]
    assert found, f"{as_user} does not list {request_id}"
    return found[0]["export"]  # type: ignore[no-any-return]


@dataclass
class Completed:
    request_id: str
    pk: int
    url: str
    path: str
    export: dict[str, Any]
    planted_title: str
    teacher_name: str


@pytest.fixture
async def completed(gql: Gql, db: asyncpg.Connection) -> AsyncIterator[Completed]:
    """`guardian` filed an INSPECT request for `student` and `admin` completed it, after the
    student planted a PRIVATE item with markup in its title and `teacher` read their contact."""
    child = await _student(db)
    activity = await db.fetchval("SELECT coalesce(max(id), 0) FROM activity_event")
    title = f"<script>alert('{uuid.uuid4().hex[:8]}')</script> & my plans"
    planted = (await gql(PLANT, as_user="student", variables={"title": title})).ok()
    item_id = planted["addPortfolioItem"]["item"]["id"]
    seen = await gql(
        "query ($id: ID!) { student(id: $id) { email phone } }",
        as_user="teacher",
        variables={"id": to_global_id("Student", child)},
    )
    assert seen.ok()["student"]["email"]
    teacher = await db.fetchrow(
        "SELECT first_name, last_name FROM app_user WHERE username = 'teacher'"
    )
    request = await _file(gql, child)
    assert request["export"] is None  # open: nothing to download yet
    done = await gql(
        RESOLVE, as_user="admin", variables={"id": request["id"], "status": "COMPLETED"}
    )
    resolved = done.ok()["resolveDataRequest"]
    assert resolved["userErrors"] == [], resolved
    export = resolved["dataRequest"]["export"]
    assert export is not None  # the district admin may download: the payload shows the link
    url = export["url"]
    assert url.startswith("http://schoolgraph.test/rights/exports/")
    pk = int(await db.fetchval("SELECT max(id) FROM data_request"))
    try:
        yield Completed(
            request["id"], pk, url, url.removeprefix("http://schoolgraph.test"), export, title,
            f"{teacher['first_name']} {teacher['last_name']}",
        )  # fmt: skip
    finally:
        # The planted item, and the activity it made (other tests count the student's).
        await db.execute(
            "DELETE FROM portfolio_item WHERE id = $1", from_global_id(item_id, "PortfolioItem")[1]
        )
        await db.execute(
            "DELETE FROM activity_event WHERE id > $1 AND student_id = $2", activity, child
        )


async def _get(client: httpx.AsyncClient, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get(path, headers=headers)


async def test_guardian_downloads_the_whole_record(
    gql: Gql, db: asyncpg.Connection, client: httpx.AsyncClient, token_for: TokenFor,
    completed: Completed,
) -> None:  # fmt: skip
    child = await _student(db)
    export = await _export_of(gql, completed.request_id, "guardian")
    assert export is not None and export["url"] == completed.url
    expires = datetime.datetime.fromisoformat(export["expiresAt"])
    built = datetime.datetime.fromisoformat(export["builtAt"])
    assert expires - built == datetime.timedelta(days=14)

    response = await _get(client, completed.path, await token_for("guardian"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="student-record-{built.date().isoformat()}.zip"'
    )
    body = response.content
    assert len(body) == export["sizeBytes"]
    assert hashlib.sha256(body).hexdigest() == export["sha256"]

    archive = zipfile.ZipFile(io.BytesIO(body))
    names = archive.namelist()
    assert names[:3] == ["README.txt", "record.json", "index.html"]
    assert sorted(names[3:]) == sorted(f"csv/{t}.csv" for t in TABLE_NAMES)
    record = json.loads(archive.read("record.json"))

    born = await db.fetchval("SELECT date_of_birth FROM student WHERE id = $1", child)
    assert record["student"]["dateOfBirth"] == born.isoformat()
    assert record["student"]["email"] and "@" in record["student"]["email"]  # decrypted
    marks = await db.fetchval("SELECT count(*) FROM mark WHERE student_id = $1", child)
    assert marks > 0 and len(record["marks"]) == marks
    assert all(m["classTitle"] and m["term"] for m in record["marks"])
    private = [i for i in record["portfolio"]["items"] if i["visibility"] == "PRIVATE"]
    assert completed.planted_title in [i["title"] for i in private]
    items = await db.fetchval("SELECT count(*) FROM portfolio_item WHERE student_id = $1", child)
    assert len(record["portfolio"]["items"]) == items
    guardian = await db.fetchrow(
        "SELECT first_name, last_name FROM app_user WHERE username = 'guardian'"
    )
    assert any(
        g["firstName"] == guardian["first_name"] and g["lastName"] == guardian["last_name"]
        for g in record["guardians"]
    )
    assert completed.request_id and any(r["kind"] == "inspect" for r in record["dataRequests"])
    # Who saw the record: the teacher who read the contact details, by name, role and basis.
    seen = [d for d in record["disclosures"] if d["viewer"] == completed.teacher_name]
    assert seen and "teacher" in seen[-1]["viewerRoles"] and seen[-1]["basis"] == "teacher_of"
    assert "contact" in seen[-1]["fieldClasses"]
    disclosures = await db.fetchval(
        "SELECT count(*) FROM disclosure WHERE student_id = $1 AND disclosed_at <= $2",
        child, datetime.datetime.fromisoformat(record["about"]["generatedAt"]),
    )  # fmt: skip
    assert len(record["disclosures"]) == disclosures

    # Every CSV parses, with the JSON's keys as header and one row per record.
    for name in TABLE_NAMES:
        rows = list(csv.DictReader(io.StringIO(archive.read(f"csv/{name}.csv").decode())))
        if name == "portfolio_items":
            expected = record["portfolio"]["items"]
        elif name == "portfolio":
            expected = [{k: v for k, v in record["portfolio"].items() if k != "items"}]
        else:
            key = "".join(p if i == 0 else p.title() for i, p in enumerate(name.split("_")))
            expected = record[key] if isinstance(record[key], list) else [record[key]]
        assert len(rows) == len([e for e in expected if e is not None]), name
    marks_csv = list(csv.DictReader(io.StringIO(archive.read("csv/marks.csv").decode())))
    assert [r["letter"] for r in marks_csv] == [m["letter"] for m in record["marks"]]

    # The page escapes what the student typed: no script runs, and nothing is loaded.
    page = archive.read("index.html").decode()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(" in page and "&amp; my plans" in page
    assert "http://" not in page and "https://" not in page and " src=" not in page


async def test_the_download_is_on_the_record(
    db: asyncpg.Connection, client: httpx.AsyncClient, token_for: TokenFor, completed: Completed
) -> None:
    child = await _student(db)
    guardian = await db.fetchval("SELECT id FROM app_user WHERE username = 'guardian'")
    before = await db.fetchval("SELECT max(id) FROM disclosure")
    audits = await db.fetchval("SELECT max(id) FROM audit_event")
    response = await _get(client, completed.path, await token_for("guardian"))
    assert response.status_code == 200
    rows = await db.fetch("SELECT * FROM disclosure WHERE id > $1", before)
    assert len(rows) == 1
    row = rows[0]
    assert (row["student_id"], row["viewer_user_id"], row["basis"]) == (
        child,
        guardian,
        "guardian_of",
    )
    assert sorted(row["field_classes"]) == sorted(FIELD_CLASSES)
    assert row["purpose"] == "inspection of records" and row["mac"]
    event = await db.fetchrow(
        "SELECT * FROM audit_event WHERE id > $1 AND action = 'download_data_export'", audits
    )
    assert event is not None and event["actor_user_id"] == guardian
    assert json.loads(event["details"])["data_request"] == completed.pk
    assert event["request_id"] == row["request_id"]

    # A district administrator may download too; recorded as a school official's.
    response = await _get(client, completed.path, await token_for("admin"))
    assert response.status_code == 200
    basis = await db.fetchval("SELECT basis FROM disclosure ORDER BY id DESC LIMIT 1")
    assert basis == "school_official"


async def test_anyone_else_gets_404_and_nobody_401(
    gql: Gql, db: asyncpg.Connection, client: httpx.AsyncClient, token_for: TokenFor,
    completed: Completed,
) -> None:  # fmt: skip
    before = await db.fetchval("SELECT max(id) FROM disclosure")
    anonymous = await _get(client, completed.path, None)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    other_guardian = await db.fetchval(
        "SELECT u.username FROM app_user u JOIN guardian_link gl ON gl.guardian_user_id = u.id"
        " WHERE u.username <> 'guardian' AND u.district_id = (SELECT district_id FROM app_user"
        " WHERE username = 'guardian') ORDER BY u.id LIMIT 1"
    )
    for account in ("teacher", "coordinator", "designee", "principal", "support", "reporter",
                    "student", other_guardian):  # fmt: skip
        response = await _get(client, completed.path, await token_for(account))
        assert response.status_code == 404, (account, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    head = await client.head(
        completed.path, headers={"Authorization": f"Bearer {await token_for('guardian')}"}
    )
    assert head.status_code == 405 and head.headers["allow"] == "GET"
    # A made-up link looks the same as a real one the viewer may not open.
    made_up = await _get(client, "/rights/exports/" + "A" * 43, await token_for("guardian"))
    assert made_up.status_code == 404
    assert (
        made_up.json()["errors"][0]["message"]
        == (
            (await _get(client, completed.path, await token_for("teacher"))).json()["errors"][0][
                "message"
            ]
        )
    )
    assert await db.fetchval("SELECT max(id) FROM disclosure") == before
    # Who may not download is not shown the link either (the principal sees the request).
    assert await _export_of(gql, completed.request_id, "principal") is None


async def test_a_second_guardian_or_an_ended_link_gets_404(
    gql: Gql, db: asyncpg.Connection, client: httpx.AsyncClient, token_for: TokenFor,
    completed: Completed,
) -> None:  # fmt: skip
    child = await _student(db)
    other = await db.fetchrow(
        "SELECT u.id, u.username FROM app_user u"
        " JOIN guardian_link gl ON gl.guardian_user_id = u.id"
        " WHERE u.username <> 'guardian' AND gl.student_id <> $1 AND u.district_id ="
        " (SELECT district_id FROM student WHERE id = $1) ORDER BY u.id LIMIT 1",
        child,
    )
    link = await db.fetchval(
        "INSERT INTO guardian_link (district_id, guardian_user_id, student_id, relationship,"
        " legal_guardian, data_access, starts_on)"
        " SELECT district_id, $1, id, 'parent', true, true, CURRENT_DATE - 1 FROM student"
        " WHERE id = $2 RETURNING id",
        other["id"], child,
    )  # fmt: skip
    try:
        # Also a parent of the child, but not who asked.
        response = await _get(client, completed.path, await token_for(other["username"]))
        assert response.status_code == 404
    finally:
        await db.execute("DELETE FROM guardian_link WHERE id = $1", link)

    links = await db.fetch(
        "SELECT id, ends_on FROM guardian_link WHERE student_id = $1 AND"
        " guardian_user_id = (SELECT id FROM app_user WHERE username = 'guardian')",
        child,
    )
    await db.execute(
        "UPDATE guardian_link SET ends_on = CURRENT_DATE - 1 WHERE id = ANY($1::bigint[])",
        [r["id"] for r in links],
    )
    try:
        # The link that gave the right ended: the bundle is no longer theirs to download.
        response = await _get(client, completed.path, await token_for("guardian"))
        assert response.status_code == 404
    finally:
        for link_row in links:
            await db.execute(
                "UPDATE guardian_link SET ends_on = $2 WHERE id = $1",
                link_row["id"], link_row["ends_on"],
            )  # fmt: skip
    assert (await _get(client, completed.path, await token_for("guardian"))).status_code == 200


async def test_an_expired_link_is_gone(
    db: asyncpg.Connection, client: httpx.AsyncClient, token_for: TokenFor, completed: Completed
) -> None:
    expires = await db.fetchval(
        "SELECT expires_at FROM data_export WHERE data_request_id = $1", completed.pk
    )
    await db.execute(
        "UPDATE data_export SET expires_at = now() - interval '1 day' WHERE data_request_id = $1",
        completed.pk,
    )
    try:
        response = await _get(client, completed.path, await token_for("guardian"))
        assert response.status_code == 410
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "GONE" and "expired" in error["message"]
        # Still no confirmation to others that the link exists.
        assert (await _get(client, completed.path, await token_for("teacher"))).status_code == 404
    finally:
        await db.execute(
            "UPDATE data_export SET expires_at = $2 WHERE data_request_id = $1",
            completed.pk, expires,
        )  # fmt: skip
    assert (await _get(client, completed.path, await token_for("guardian"))).status_code == 200


async def test_the_store_keeps_no_token_and_no_plain_zip(
    db: asyncpg.Connection, completed: Completed
) -> None:
    token = completed.path.rsplit("/", 1)[1]
    row = await db.fetchrow("SELECT * FROM data_export WHERE data_request_id = $1", completed.pk)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    content = bytes(row["content"])
    assert token.encode() not in content and b"PK\x03\x04" not in content
    assert b"UEsDB" not in content  # base64 of a zip's first bytes: the content is encrypted
    assert row["size_bytes"] > 0 and row["expires_at"] > row["built_at"]


async def test_export_is_null_until_completed_and_when_denied(
    gql: Gql, db: asyncpg.Connection
) -> None:
    child = await _student(db)
    request = await _file(gql, child)
    assert await _export_of(gql, request["id"], "guardian") is None
    assert await _export_of(gql, request["id"], "admin") is None
    denied = await gql(
        RESOLVE, as_user="admin", variables={"id": request["id"], "status": "DENIED"}
    )
    assert denied.ok()["resolveDataRequest"]["dataRequest"]["export"] is None
    assert (
        await db.fetchval(
            "SELECT count(*) FROM data_export x JOIN data_request r ON r.id = x.data_request_id"
            " WHERE r.status = 'denied'"
        )
        == 0
    )


async def test_due_date_follows_the_district_and_admins_list_overdue_requests(
    gql: Gql, db: asyncpg.Connection
) -> None:
    child = await _student(db)
    district = await db.fetchval("SELECT district_id FROM student WHERE id = $1", child)
    await db.execute("UPDATE district SET data_request_days = 30 WHERE id = $1", district)
    try:
        request = await _file(gql, child)
    finally:
        await db.execute("UPDATE district SET data_request_days = 45 WHERE id = $1", district)
    today = datetime.datetime.now(datetime.UTC).date()
    assert datetime.date.fromisoformat(request["dueOn"]) == today + datetime.timedelta(days=30)
    assert request["overdue"] is False
    later = await _file(gql, child)
    assert datetime.date.fromisoformat(later["dueOn"]) == today + datetime.timedelta(days=45)

    # Two requests past due, one more than the other.
    pk = int(await db.fetchval("SELECT max(id) FROM data_request"))
    await db.execute("UPDATE data_request SET due_on = CURRENT_DATE - 3 WHERE id = $1", pk - 1)
    await db.execute("UPDATE data_request SET due_on = CURRENT_DATE - 1 WHERE id = $1", pk)
    overdue = (await gql(REQUESTS, as_user="admin", variables={"overdue": True})).ok()[
        "dataRequests"
    ]
    ids = [r["id"] for r in overdue]
    assert ids.index(request["id"]) < ids.index(later["id"])  # the earliest due first
    assert all(r["overdue"] and r["status"] == "OPEN" for r in overdue)
    dues = [r["dueOn"] for r in overdue]
    assert dues == sorted(dues)
    others = (await gql(REQUESTS, as_user="admin", variables={"overdue": False})).ok()[
        "dataRequests"
    ]
    assert request["id"] not in {r["id"] for r in others}
    assert not any(r["overdue"] for r in others)
    # The guardian sees that their request is late; a teacher lists nothing.
    mine = (await gql(REQUESTS, as_user="guardian", variables={"overdue": True})).ok()
    assert later["id"] in {r["id"] for r in mine["dataRequests"]}
    assert (await gql(REQUESTS, as_user="teacher", variables={"overdue": True})).ok() == {
        "dataRequests": []
    }
    for r in (request, later):
        await gql(RESOLVE, as_user="admin", variables={"id": r["id"], "status": "DENIED"})
    listed = (await gql(REQUESTS, as_user="admin", variables={"overdue": True})).ok()
    assert request["id"] not in {r["id"] for r in listed["dataRequests"]}


async def test_the_bundle_takes_the_same_statements_whatever_its_size(
    db: asyncpg.Connection, database_url: str
) -> None:
    small, large = await db.fetchrow(
        "SELECT min(id) FILTER (WHERE n = lo), min(id) FILTER (WHERE n = hi) FROM ("
        " SELECT s.id, count(m.id) AS n, min(count(m.id)) OVER () AS lo,"
        " max(count(m.id)) OVER () AS hi FROM student s LEFT JOIN mark m ON m.student_id = s.id"
        " GROUP BY s.id) t"
    )
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            now = datetime.datetime.now(datetime.UTC)
            await collect(connection, student_id=small, generated_at=now)  # keys loaded
            counts, bundles = [], []
            for student_id in (small, large):
                counter = start_counting()
                bundles.append(await collect(connection, student_id=student_id, generated_at=now))
                counts.append(counter.statements)
    finally:
        await engine.dispose()
    assert len(bundles[0].table("marks").rows) < len(bundles[1].table("marks").rows)
    assert counts[0] == counts[1] == len(TABLE_NAMES)
    # The same bundle makes the same bytes.
    assert build_zip(bundles[1]) == build_zip(bundles[1])


def test_csv_cells_never_run_as_formulas() -> None:
    assert cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert cell("+cmd|' /C calc'!A0") == "'+cmd|' /C calc'!A0"
    assert cell("@SUM(A1)") == "'@SUM(A1)"
    assert cell("+1 555 0100") == "+1 555 0100"
    assert cell("-3") == "-3" and cell(-3) == "-3"
    assert cell(["a", "b"]) == "a; b" and cell(None) == "" and cell(True) == "true"


async def test_an_eligible_student_downloads_their_own_and_the_guardian_no_longer_does(
    gql: Gql, db: asyncpg.Connection, client: httpx.AsyncClient, token_for: TokenFor,
    completed: Completed,
) -> None:  # fmt: skip
    child = await _student(db)
    born = await db.fetchval("SELECT date_of_birth FROM student WHERE id = $1", child)
    today = datetime.datetime.now(datetime.UTC).date()
    await db.execute(
        "UPDATE student SET date_of_birth = $2 WHERE id = $1",
        child,
        today.replace(year=today.year - 19),
    )
    try:
        # The rights moved to the student: the guardian's earlier bundle is no longer theirs.
        assert (await _get(client, completed.path, await token_for("guardian"))).status_code == 404
        # Nor is it the student's: they did not ask for it.
        assert (await _get(client, completed.path, await token_for("student"))).status_code == 404
        own = await _file(gql, child, as_user="student")
        done = await gql(
            RESOLVE, as_user="admin", variables={"id": own["id"], "status": "COMPLETED"}
        )
        assert done.ok()["resolveDataRequest"]["userErrors"] == []
        export = await _export_of(gql, own["id"], "student")
        assert export is not None
        path = export["url"].removeprefix("http://schoolgraph.test")
        response = await _get(client, path, await token_for("student"))
        assert response.status_code == 200
        basis = await db.fetchval("SELECT basis FROM disclosure ORDER BY id DESC LIMIT 1")
        assert basis == "self"
        assert (await _get(client, path, await token_for("guardian"))).status_code == 404
    finally:
        await db.execute("UPDATE student SET date_of_birth = $2 WHERE id = $1", child, born)


async def test_a_purged_bundle_is_gone(
    db: asyncpg.Connection, client: httpx.AsyncClient, token_for: TokenFor, completed: Completed
) -> None:
    # Retention purges expired bundles (tests/test_retention.py); here, what a purged one answers.
    await db.execute(
        "UPDATE data_export SET expires_at = now() - interval '1 minute', content = NULL,"
        " purged_at = now() WHERE data_request_id = $1",
        completed.pk,
    )
    row = await db.fetchrow("SELECT * FROM data_export WHERE data_request_id = $1", completed.pk)
    assert row["content"] is None and row["purged_at"] is not None
    response = await _get(client, completed.path, await token_for("guardian"))
    assert response.status_code == 410 and "removed" in response.json()["errors"][0]["message"]
