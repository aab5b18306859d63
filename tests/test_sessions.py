"""Sign-in sessions over HTTP: each `login` is a session (device, address, started, last seen);
`viewer.sessions`, `logout`, `revokeSession`, `revokeAllSessions`, `activeSessions`; a revoked
session's token is refused (401) at its next request, by every instance of the application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from starlette.applications import Starlette

from app.asgi import create_app
from app.config import get_settings
from app.sessions.sign_in import CLI_AGENT, command_line_token
from schema.relay import to_global_id
from tests.helpers import GraphQLResponse

PASSWORD = "demo-password-1"
ADDRESS = "198.51.100.23"
DEVICE = "Mozilla/5.0 (X11; Linux x86_64) SessionTest/1.0"

LOGIN = """
mutation ($u: String!, $p: String!) {
  login(input: {username: $u, password: $p}) { token expiresAt userErrors { code message } }
}"""
VIEWER = "{ viewer { username } }"
MY_SESSIONS = """
{ viewer { username sessions { id userId startedAt lastSeenAt expiresAt address userAgent
                               revokedAt current } } }"""
ACTIVE = """
query ($userId: ID, $schoolId: ID, $first: Int, $after: String) {
  activeSessions(userId: $userId, schoolId: $schoolId, first: $first, after: $after) {
    totalCount
    edges { cursor node { id userId username user { id username } address userAgent current } }
    pageInfo { hasNextPage endCursor }
  }
}"""
REVOKE = """
mutation ($id: ID!) {
  revokeSession(input: {id: $id}) {
    session { id revokedAt }
    userErrors { code field message }
  }
}"""
REVOKE_ALL = """
mutation ($userId: ID) {
  revokeAllSessions(input: {userId: $userId}) {
    revokedSessionIds
    userErrors { code field message }
  }
}"""
LOGOUT = """
mutation ($everywhere: Boolean!) {
  logout(input: {everywhere: $everywhere}) {
    session { id revokedAt current }
    revokedSessionIds
    userErrors { code message }
  }
}"""


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client seen from a fixed address, with a recognisable device."""
    transport = httpx.ASGITransport(app=app, client=(ADDRESS, 41000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://schoolgraph.test", headers={"User-Agent": DEVICE}
    ) as c:
        yield c


async def _post(
    client: httpx.AsyncClient,
    query: str,
    token: str | None = None,
    variables: dict[str, Any] | None = None,
) -> GraphQLResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    return GraphQLResponse(response.status_code, response.json())


async def _login(client: httpx.AsyncClient, username: str) -> str:
    data = (await _post(client, LOGIN, variables={"u": username, "p": PASSWORD})).ok()
    assert data["login"]["userErrors"] == [], data
    return str(data["login"]["token"])


def _sid(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


async def _user_id(db: asyncpg.Connection, username: str) -> int:
    return int(await db.fetchval("SELECT id FROM app_user WHERE username = $1", username))


def _refused(response: GraphQLResponse) -> None:
    assert response.status == 401, response.body
    assert [e["extensions"]["code"] for e in response.errors] == ["UNAUTHENTICATED"]
    assert "session has ended" in response.errors[0]["message"]


async def test_login_starts_a_session_with_device_and_address(http, db):
    before = await db.fetchval("SELECT now()")
    token = await _login(http, "coordinator")
    sid = _sid(token)
    row = await db.fetchrow("SELECT * FROM user_session WHERE id = $1", sid)
    user = await _user_id(db, "coordinator")
    assert row["user_id"] == user
    assert row["address"] == ADDRESS and row["user_agent"] == DEVICE
    assert row["started_at"] >= before and row["revoked_at"] is None
    claims = jwt.decode(token, options={"verify_signature": False})
    assert abs(row["expires_at"].timestamp() - claims["exp"]) < 1
    signed_in = await db.fetchval("SELECT last_sign_in_at FROM app_user WHERE id = $1", user)
    assert signed_in is not None and signed_in >= before
    assert (await _post(http, VIEWER, token)).ok()["viewer"]["username"] == "coordinator"


async def test_a_long_user_agent_is_shortened(app, db):
    transport = httpx.ASGITransport(app=app, client=(ADDRESS, 41001))
    agent = "Agent/" + "x" * 1000
    async with httpx.AsyncClient(
        transport=transport, base_url="http://schoolgraph.test", headers={"User-Agent": agent}
    ) as client:
        token = await _login(client, "designee")
    kept = await db.fetchval("SELECT user_agent FROM user_session WHERE id = $1", _sid(token))
    assert kept == agent[:200]


async def test_viewer_sessions_lists_own_and_marks_the_current_one(http):
    first, second = await _login(http, "designee"), await _login(http, "designee")
    sessions = (await _post(http, MY_SESSIONS, first)).ok()["viewer"]["sessions"]
    by_id = {s["id"]: s for s in sessions}
    assert by_id[_sid(first)]["current"] is True
    assert by_id[_sid(second)]["current"] is False
    assert [s for s in sessions if s["current"]] == [by_id[_sid(first)]]
    assert by_id[_sid(first)]["address"] == ADDRESS
    assert by_id[_sid(first)]["userAgent"] == DEVICE
    # Only the viewer's own.
    assert {s["userId"] for s in sessions} == {to_global_id("StaffMember", _pk_of(first))}


def _pk_of(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["sub"])


async def test_admin_lists_and_revokes_teachers_session_in_every_worker(http, db, database_url):
    admin = await _login(http, "admin")
    revoked, kept = await _login(http, "teacher"), await _login(http, "teacher")
    teacher = to_global_id("StaffMember", await _user_id(db, "teacher"))
    listed = (await _post(http, ACTIVE, admin, {"userId": teacher})).ok()["activeSessions"]
    ids = {e["node"]["id"] for e in listed["edges"]}
    assert {_sid(revoked), _sid(kept)} <= ids
    assert listed["totalCount"] >= 2
    node = next(e["node"] for e in listed["edges"] if e["node"]["id"] == _sid(revoked))
    assert node["username"] == node["user"]["username"] == "teacher"
    assert node["user"]["id"] == teacher and node["address"] == ADDRESS
    assert node["userAgent"] == DEVICE and node["current"] is False

    # A second instance of the application on the same database, started before the revocation.
    other = create_app(database_url=database_url)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as second:
            assert (await _post(second, VIEWER, revoked)).ok()["viewer"]["username"] == "teacher"
            payload = (await _post(http, REVOKE, admin, {"id": _sid(revoked)})).ok()
            assert payload["revokeSession"]["userErrors"] == []
            assert payload["revokeSession"]["session"]["revokedAt"] is not None
            _refused(await _post(http, VIEWER, revoked))
            _refused(await _post(second, VIEWER, revoked))
            # Whatever the request asks.
            _refused(await _post(second, "{ students(first: 1) { totalCount } }", revoked))
            # The teacher's other session still works, in both.
            for client in (http, second):
                assert (await _post(client, VIEWER, kept)).ok()["viewer"]["username"] == "teacher"
    row = await db.fetchrow("SELECT revoked_by FROM user_session WHERE id = $1", _sid(revoked))
    assert row["revoked_by"] == await _user_id(db, "admin")
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_event WHERE action = 'revoke_session'"
        " AND details->>'session' = $1 AND actor_user_id = $2",
        _sid(revoked),
        await _user_id(db, "admin"),
    )
    assert audited == 1
    # No longer listed; revoking it again is a clear user error.
    listed = (await _post(http, ACTIVE, admin, {"userId": teacher})).ok()["activeSessions"]
    assert _sid(revoked) not in {e["node"]["id"] for e in listed["edges"]}
    again = (await _post(http, REVOKE, admin, {"id": _sid(revoked)})).ok()["revokeSession"]
    assert again["session"] is None and again["userErrors"][0]["code"] == "NOT_FOUND"


async def test_active_sessions_pages_and_is_for_administrators(http, db):
    admin = await _login(http, "admin")
    for _ in range(3):
        await _login(http, "support")
    support = to_global_id("StaffMember", await _user_id(db, "support"))
    seen: list[str] = []
    after = None
    while True:
        page = (
            await _post(http, ACTIVE, admin, {"userId": support, "first": 2, "after": after})
        ).ok()["activeSessions"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) >= 3
    assert len(seen) == page["totalCount"]
    for name in ("teacher", "coordinator", "guardian", "student", "support"):
        response = await _post(http, ACTIVE, await _login(http, name))
        assert response.data is None or response.data.get("activeSessions") is None, name
        assert [e["extensions"]["code"] for e in response.errors] == ["FORBIDDEN"], name


async def test_principal_sees_and_revokes_only_their_schools_users(http, db):
    principal = await _login(http, "principal")
    teacher_token = await _login(http, "teacher")
    admin_token = await _login(http, "admin")
    listed = (await _post(http, ACTIVE, principal)).ok()["activeSessions"]
    names = {e["node"]["username"] for e in listed["edges"]}
    assert "teacher" in names and "admin" not in names
    # A teacher at the other high school, signed in (a session made as `login` makes them).
    other = await db.fetchval(
        "SELECT ra.user_id FROM role_assignment ra JOIN school sc ON sc.id = ra.school_id"
        " WHERE ra.role = 'teacher' AND sc.name = 'Lakeview High School'"
        " AND NOT EXISTS (SELECT 1 FROM role_assignment r2 WHERE r2.user_id = ra.user_id"
        "   AND r2.school_id IS DISTINCT FROM ra.school_id)"
        " ORDER BY ra.user_id LIMIT 1"
    )
    assert other is not None
    sid = "outside-" + "x" * 30
    await db.execute(
        "INSERT INTO user_session (id, district_id, user_id, expires_at)"
        " SELECT $1, district_id, id, now() + interval '1 hour' FROM app_user WHERE id = $2",
        sid,
        other,
    )
    try:
        listed = (await _post(http, ACTIVE, principal)).ok()["activeSessions"]
        assert sid not in {e["node"]["id"] for e in listed["edges"]}
        refused = await _post(http, REVOKE, principal, {"id": sid})
        assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
        user = to_global_id("StaffMember", other)
        refused = await _post(http, REVOKE_ALL, principal, {"userId": user})
        assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
        # Nor the district administrator's, who holds a role across the district.
        refused = await _post(http, REVOKE, principal, {"id": _sid(admin_token)})
        assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
        assert await db.fetchval("SELECT revoked_at FROM user_session WHERE id = $1", sid) is None
        school = await db.fetchval("SELECT id FROM school WHERE name = 'Lakeview High School'")
        refused = await _post(http, ACTIVE, principal, {"schoolId": to_global_id("School", school)})
        assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
        # The district administrator may.
        ok = (await _post(http, REVOKE, admin_token, {"id": sid})).ok()["revokeSession"]
        assert ok["userErrors"] == [] and ok["session"]["id"] == sid
    finally:
        await db.execute("DELETE FROM user_session WHERE id = $1", sid)
    # Their own school's teacher: yes.
    done = (await _post(http, REVOKE, principal, {"id": _sid(teacher_token)})).ok()
    assert done["revokeSession"]["userErrors"] == []
    _refused(await _post(http, VIEWER, teacher_token))
    # Nobody revokes another user's session without a policy line.
    victim = await _login(http, "coordinator")
    student = await _login(http, "student")
    refused = await _post(http, REVOKE, student, {"id": _sid(victim)})
    assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
    assert (await _post(http, VIEWER, victim)).ok()["viewer"]["username"] == "coordinator"


async def test_logout_ends_the_current_session_only(http):
    mine, other = await _login(http, "guardian"), await _login(http, "guardian")
    out = (await _post(http, LOGOUT, mine, {"everywhere": False})).ok()["logout"]
    assert out["userErrors"] == [] and out["revokedSessionIds"] == [_sid(mine)]
    assert out["session"]["id"] == _sid(mine) and out["session"]["revokedAt"] is not None
    _refused(await _post(http, VIEWER, mine))
    _refused(await _post(http, LOGOUT, mine, {"everywhere": False}))
    assert (await _post(http, VIEWER, other)).ok()["viewer"]["username"] == "guardian"


async def test_logout_and_revoke_all_need_no_argument(http):
    token, other = await _login(http, "support"), await _login(http, "support")
    out = (await _post(http, "mutation { logout { revokedSessionIds } }", token)).ok()
    assert out["logout"]["revokedSessionIds"] == [_sid(token)]
    _refused(await _post(http, VIEWER, token))
    done = await _post(http, "mutation { revokeAllSessions { revokedSessionIds } }", other)
    assert _sid(other) in done.ok()["revokeAllSessions"]["revokedSessionIds"]
    _refused(await _post(http, VIEWER, other))


async def test_logout_everywhere_and_revoke_all(http, db):
    tokens = [await _login(http, "reporter") for _ in range(3)]
    out = (await _post(http, LOGOUT, tokens[0], {"everywhere": True})).ok()["logout"]
    assert set(out["revokedSessionIds"]) >= {_sid(t) for t in tokens}
    for token in tokens:
        _refused(await _post(http, VIEWER, token))
    # An administrator ends all of a user's sessions.
    admin = await _login(http, "admin")
    tokens = [await _login(http, "student") for _ in range(2)]
    student = to_global_id("StaffMember", await _user_id(db, "student"))
    done = (await _post(http, REVOKE_ALL, admin, {"userId": student})).ok()["revokeAllSessions"]
    assert done["userErrors"] == [] and set(done["revokedSessionIds"]) >= {_sid(t) for t in tokens}
    for token in tokens:
        _refused(await _post(http, VIEWER, token))
    assert (await _post(http, VIEWER, admin)).ok()["viewer"]["username"] == "admin"
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_event WHERE action = 'revoke_all_sessions' AND target_id = $1",
        await _user_id(db, "student"),
    )
    assert audited >= 1
    # A user of another district is no user here.
    unknown = to_global_id("StaffMember", 2**40)
    missing = (await _post(http, REVOKE_ALL, admin, {"userId": unknown})).ok()
    assert missing["revokeAllSessions"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_an_expired_session_is_refused(http, db):
    token = await _login(http, "designee")
    await db.execute(
        "UPDATE user_session SET expires_at = now() - interval '1 second' WHERE id = $1",
        _sid(token),
    )
    _refused(await _post(http, VIEWER, token))


async def test_a_session_check_costs_no_statement_and_last_seen_moves_once_a_minute(http, db, gql):
    token = await _login(http, "teacher")
    sid = _sid(token)
    query = "{ viewer { username roles { role } } }"
    with_session = await _post(http, query, token)
    without = await gql(query, as_user="teacher")  # a token with no session
    assert with_session.ok() and without.ok()
    assert with_session.statements == without.statements
    seen = await db.fetchval("SELECT last_seen_at FROM user_session WHERE id = $1", sid)
    await _post(http, query, token)
    assert await db.fetchval("SELECT last_seen_at FROM user_session WHERE id = $1", sid) == seen
    await db.execute(
        "UPDATE user_session SET last_seen_at = now() - interval '2 minutes' WHERE id = $1", sid
    )
    stale = await db.fetchval("SELECT last_seen_at FROM user_session WHERE id = $1", sid)
    after = await _post(http, query, token)
    assert after.statements == without.statements
    moved = await db.fetchval("SELECT last_seen_at FROM user_session WHERE id = $1", sid)
    assert moved > stale + timedelta(seconds=60)


async def test_a_token_naming_another_users_session_is_refused(http, db):
    from app.auth import issue_token

    token = await _login(http, "coordinator")
    forged = issue_token(await _user_id(db, "teacher"), get_settings(), session_id=_sid(token))
    _refused(await _post(http, VIEWER, forged))


async def test_logout_without_a_session_is_a_user_error(gql):
    out = (await gql(LOGOUT, as_user="support", variables={"everywhere": False})).ok()["logout"]
    assert out["userErrors"][0]["code"] == "NO_SESSION" and out["revokedSessionIds"] == []


async def test_command_line_tokens_are_sessions(http, db, database_url):
    token = await command_line_token(database_url, "principal", get_settings(), timedelta(hours=1))
    assert token is not None
    row = await db.fetchrow("SELECT * FROM user_session WHERE id = $1", _sid(token))
    assert row["user_agent"] == CLI_AGENT and row["address"] is None
    assert (await _post(http, VIEWER, token)).ok()["viewer"]["username"] == "principal"
    assert (
        await command_line_token(database_url, "nobody-here", get_settings(), timedelta(hours=1))
        is None
    )
    with pytest.raises(ValueError, match="at most"):
        await command_line_token(database_url, "principal", get_settings(), timedelta(days=3650))


async def test_de_identifying_an_account_ends_its_sessions_and_forgets_where(db, database_url):
    from app.database import create_engine
    from app.rights.deidentify import deidentify_accounts
    from tests.factories import create_user, delete_user

    user_id, _ = await create_user(db)
    district = await db.fetchval("SELECT district_id FROM app_user WHERE id = $1", user_id)
    sid = "deidentified-" + "x" * 30
    await db.execute(
        "INSERT INTO user_session (id, district_id, user_id, expires_at, address, user_agent)"
        " VALUES ($1, $2, $3, now() + interval '1 hour', $4, $5)",
        sid,
        district,
        user_id,
        ADDRESS,
        DEVICE,
    )
    engine = create_engine(database_url, get_settings())
    try:
        async with engine.begin() as connection:
            assert await deidentify_accounts(connection, [user_id], district_id=district)
        row = await db.fetchrow("SELECT * FROM user_session WHERE id = $1", sid)
        assert row["revoked_at"] is not None
        assert row["address"] is None and row["user_agent"] is None
    finally:
        await engine.dispose()
        await delete_user(db, user_id)
