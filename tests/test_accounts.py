"""Accounts for administrators: `users` with its filters and scope, and the account lifecycle
(`createUser`, `updateUser`, `deactivateUser`, `reactivateUser`), over HTTP."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from schema.relay import to_global_id
from tests.helpers import GraphQLResponse, nodes

Gql = Callable[..., Awaitable[GraphQLResponse]]

USERS = """
query ($filter: UserFilter, $first: Int, $after: String) {
  users(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id username firstName lastName email isActive locked lastSignInAt reviewedAt createdAt
      mfaEnabled roles { role schoolId school { code } }
    } }
  }
}
"""
CREATE = """
mutation ($input: CreateUserInput!) {
  createUser(input: $input) {
    user { id username firstName lastName email phone isActive roles { role schoolId } }
    userErrors { code field message }
  }
}
"""
UPDATE = """
mutation ($input: UpdateUserInput!) {
  updateUser(input: $input) {
    user { id username firstName lastName email phone }
    userErrors { code field message }
  }
}
"""
DEACTIVATE = """
mutation ($id: ID!) {
  deactivateUser(input: {userId: $id}) { user { isActive } userErrors { code field } }
}
"""
REACTIVATE = """
mutation ($id: ID!) {
  reactivateUser(input: {userId: $id}) { user { isActive } userErrors { code field } }
}
"""


async def _school(db: asyncpg.Connection, code: str = "H001") -> tuple[int, str]:
    pk = await db.fetchval("SELECT id FROM school WHERE district_id = 1 AND code = $1", code)
    return int(pk), to_global_id("School", pk)


async def _other_school(db: asyncpg.Connection) -> tuple[int, str]:
    pk = await db.fetchval(
        "SELECT id FROM school WHERE district_id = 1 AND id <> 1 AND level = 'high' ORDER BY id"
    )
    return int(pk), to_global_id("School", pk)


def _username() -> str:
    return f"acct-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def made(db: asyncpg.Connection) -> AsyncIterator[list[str]]:
    """Usernames of the accounts a test creates: removed afterwards with what hangs off them."""
    usernames: list[str] = []
    yield usernames
    for name in usernames:
        user_id = await db.fetchval("SELECT id FROM app_user WHERE username = $1", name)
        if user_id is None:
            continue
        await db.execute("DELETE FROM activity_event WHERE user_id = $1", user_id)
        await db.execute("DELETE FROM role_assignment WHERE user_id = $1", user_id)
        await db.execute("DELETE FROM audit_change WHERE user_id = $1", user_id)
        await db.execute(
            "UPDATE legitimate_interest_grant SET revoked_at = coalesce(revoked_at, now())"
            " WHERE grantee_user_id = $1",
            user_id,
        )
        # Kept when other rows name it (grants, audit): deactivated, renamed out of the way.
        try:
            await db.execute("DELETE FROM app_user WHERE id = $1", user_id)
        except asyncpg.ForeignKeyViolationError:
            await db.execute(
                "UPDATE app_user SET is_active = false, username = 'gone-' || id WHERE id = $1",
                user_id,
            )


async def create(
    gql: Gql, as_user: str, made: list[str], **fields: Any
) -> tuple[dict[str, Any], str]:
    name = fields.pop("username", None) or _username()
    made.append(name)
    payload = (
        await gql(
            CREATE,
            as_user=as_user,
            variables={
                "input": {"username": name, "firstName": "Ada", "lastName": "Lovelace", **fields}
            },
        )
    ).ok()["createUser"]
    return payload, name


async def test_admin_lists_users_with_filters(gql: Gql, db: asyncpg.Connection, made) -> None:
    everyone = (await gql(USERS, as_user="admin", variables={"first": 5})).ok()["users"]
    total = await db.fetchval("SELECT count(*) FROM app_user WHERE district_id = 1")
    assert everyone["totalCount"] == total
    assert len(everyone["edges"]) == 5 and everyone["pageInfo"]["hasNextPage"]
    # The next page follows the last username.
    after = everyone["pageInfo"]["endCursor"]
    following = (await gql(USERS, as_user="admin", variables={"first": 5, "after": after})).ok()
    names = [u["username"] for u in nodes(everyone)] + [
        u["username"] for u in nodes(following["users"])
    ]
    assert names == sorted(names) and len(set(names)) == 10

    teachers = (
        await gql(USERS, as_user="admin", variables={"filter": {"role": "TEACHER"}, "first": 1000})
    ).ok()["users"]
    expected = await db.fetchval(
        "SELECT count(DISTINCT u.id) FROM app_user u JOIN role_assignment ra ON ra.user_id = u.id"
        " WHERE u.district_id = 1 AND ra.role = 'teacher'"
    )
    assert teachers["totalCount"] == expected > 0
    assert all(any(r["role"] == "TEACHER" for r in u["roles"]) for u in nodes(teachers))

    found = (await gql(USERS, as_user="admin", variables={"filter": {"search": "coordinat"}})).ok()[
        "users"
    ]
    assert "coordinator" in {u["username"] for u in nodes(found)}

    _, school = await _school(db)
    at_school = (
        await gql(
            USERS,
            as_user="admin",
            variables={"filter": {"schoolId": school, "role": "TEACHER"}, "first": 1000},
        )
    ).ok()["users"]
    assert "teacher" in {u["username"] for u in nodes(at_school)}
    for user in nodes(at_school):
        assert any(r["schoolId"] == school for r in user["roles"]), user

    # Inactive and locked accounts: one of each, made for the test.
    payload, inactive = await create(gql, "admin", made)
    await gql(DEACTIVATE, as_user="admin", variables={"id": payload["user"]["id"]})
    payload, locked = await create(gql, "admin", made)
    await db.execute("UPDATE app_user SET locked_at = now() WHERE username = $1", locked)
    listed = (
        await gql(USERS, as_user="admin", variables={"filter": {"inactive": True}, "first": 1000})
    ).ok()["users"]
    assert inactive in {u["username"] for u in nodes(listed)}
    assert all(not u["isActive"] for u in nodes(listed))
    listed = (
        await gql(USERS, as_user="admin", variables={"filter": {"locked": True}, "first": 1000})
    ).ok()["users"]
    assert {u["username"] for u in nodes(listed)} >= {locked}
    assert all(u["locked"] for u in nodes(listed))
    listed = (
        await gql(USERS, as_user="admin", variables={"filter": {"locked": False}, "first": 1000})
    ).ok()["users"]
    assert locked not in {u["username"] for u in nodes(listed)}

    # Last sign-in: never, or before the time given; an account that signed in after is left out.
    await db.execute(
        "INSERT INTO activity_event (district_id, user_id, kind) SELECT district_id, id, 'login'"
        " FROM app_user WHERE username = $1",
        inactive,
    )
    before = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).isoformat()
    stale = (
        await gql(
            USERS,
            as_user="admin",
            variables={"filter": {"lastSignInBefore": before, "search": "acct-"}, "first": 1000},
        )
    ).ok()["users"]
    stale_names = {u["username"] for u in nodes(stale)}
    assert locked in stale_names and inactive not in stale_names
    signed = next(
        u
        for u in nodes(
            (await gql(USERS, as_user="admin", variables={"filter": {"search": inactive}})).ok()[
                "users"
            ]
        )
    )
    assert signed["lastSignInAt"] is not None


async def test_scope_of_users(gql: Gql, db: asyncpg.Connection) -> None:
    school_pk, _ = await _school(db)
    listed = (await gql(USERS, as_user="principal", variables={"first": 1000})).ok()["users"]
    names = {u["username"] for u in nodes(listed)}
    assert {"teacher", "coordinator", "student", "principal"} <= names
    # District-wide accounts and other schools' staff are not the principal's.
    assert "admin" not in names and "reporter" not in names
    in_scope = await db.fetchval(
        "SELECT count(*) FROM app_user u WHERE u.district_id = 1 AND ("
        " EXISTS (SELECT 1 FROM role_assignment ra WHERE ra.user_id = u.id AND ra.school_id = $1)"
        " OR EXISTS (SELECT 1 FROM student s WHERE s.user_id = u.id AND s.school_id = $1)"
        " OR EXISTS (SELECT 1 FROM guardian_link gl JOIN student s ON s.id = gl.student_id"
        "  WHERE gl.guardian_user_id = u.id AND s.school_id = $1))",
        school_pk,
    )
    assert listed["totalCount"] == in_scope
    for account in ("teacher", "coordinator", "guardian", "student", "reporter", "support"):
        response = await gql(USERS, as_user=account)
        assert response.data is None or response.data.get("users") is None, account
        assert response.errors[0]["extensions"]["code"] == "FORBIDDEN", account


async def test_create_update_deactivate_reactivate(
    gql: Gql, db: asyncpg.Connection, made, token_for
) -> None:
    _, school = await _school(db)
    payload, name = await create(
        gql,
        "admin",
        made,
        email="Ada@Example.org",
        roles=[{"role": "TEACHER", "schoolId": school}],
    )
    assert payload["userErrors"] == []
    user = payload["user"]
    assert user["username"] == name and user["email"] == "ada@example.org" and user["isActive"]
    assert user["roles"] == [{"role": "TEACHER", "schoolId": school}]
    user_id = await db.fetchval("SELECT id FROM app_user WHERE username = $1", name)
    # Created and its role assigned, audited; the email never in the event's details.
    events = await db.fetch(
        "SELECT action, details::text AS details FROM audit_event WHERE target_type = 'User'"
        " AND target_id = $1 ORDER BY id",
        user_id,
    )
    assert [e["action"] for e in events] == ["create_user", "assign_role"]
    assert "example.org" not in events[0]["details"]
    assert await db.fetchval("SELECT count(*) FROM audit_change WHERE user_id = $1", user_id) >= 3
    # The email is stored encrypted.
    assert b"example.org" not in bytes(
        await db.fetchval("SELECT email FROM app_user WHERE id = $1", user_id)
    )

    # The same username again, bad values: userErrors, nothing created.
    again = (
        await gql(
            CREATE,
            as_user="admin",
            variables={"input": {"username": name, "firstName": "A", "lastName": "B"}},
        )
    ).ok()["createUser"]
    assert again["user"] is None and again["userErrors"][0]["code"] == "TAKEN"
    for bad, code in (
        ({"username": "x"}, "INVALID"),
        ({"email": "not-an-email"}, "INVALID_EMAIL"),
        ({"firstName": "  "}, "REQUIRED"),
    ):
        values = {"username": _username(), "firstName": "A", "lastName": "B", **bad}
        made.append(values["username"])
        refused = (await gql(CREATE, as_user="admin", variables={"input": values})).ok()
        assert refused["createUser"]["userErrors"][0]["code"] == code, bad
        assert (
            await db.fetchval(
                "SELECT count(*) FROM app_user WHERE username = $1", values["username"]
            )
            == 0
        )

    # Updated: only what is given; personal values through the encrypted change audit.
    updated = (
        await gql(
            UPDATE,
            as_user="admin",
            variables={"input": {"userId": user["id"], "lastName": "Byron", "phone": "555-0100"}},
        )
    ).ok()["updateUser"]
    assert updated["userErrors"] == []
    assert updated["user"]["lastName"] == "Byron" and updated["user"]["firstName"] == "Ada"
    assert updated["user"]["phone"] == "555-0100" and updated["user"]["email"] == "ada@example.org"
    event = await db.fetchrow(
        "SELECT id, details::text AS details FROM audit_event WHERE action = 'update_user'"
        " AND target_id = $1",
        user_id,
    )
    assert "555-0100" not in event["details"] and "Byron" not in event["details"]
    fields = {
        r["field"]
        for r in await db.fetch(
            "SELECT field FROM audit_change WHERE audit_event_id = $1", event["id"]
        )
    }
    assert fields == {"lastName", "phone"}
    taken = (
        await gql(
            UPDATE,
            as_user="admin",
            variables={"input": {"userId": user["id"], "username": "teacher"}},
        )
    ).ok()["updateUser"]
    assert taken["userErrors"][0]["code"] == "TAKEN"

    # Deactivated: its token stops working at once, as any inactive account's.
    token_query = "{ viewer { username } }"
    assert (await gql(token_query, as_user=name)).ok()["viewer"]["username"] == name
    off = (await gql(DEACTIVATE, as_user="admin", variables={"id": user["id"]})).ok()
    assert off["deactivateUser"] == {"user": {"isActive": False}, "userErrors": []}
    assert (await gql(token_query, as_user=name)).ok()["viewer"] is None
    refused = await gql("{ students(first: 1) { totalCount } }", as_user=name)
    assert refused.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    on = (await gql(REACTIVATE, as_user="admin", variables={"id": user["id"]})).ok()
    assert on["reactivateUser"] == {"user": {"isActive": True}, "userErrors": []}
    assert (await gql(token_query, as_user=name)).ok()["viewer"]["username"] == name
    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_event WHERE target_type = 'User' AND target_id = $1"
            " ORDER BY id",
            user_id,
        )
    ]
    assert actions[-2:] == ["deactivate_user", "reactivate_user"]


async def test_admins_cannot_deactivate_themselves(gql: Gql, db: asyncpg.Connection) -> None:
    admin = to_global_id(
        "StaffMember", await db.fetchval("SELECT id FROM app_user WHERE username = 'admin'")
    )
    refused = (await gql(DEACTIVATE, as_user="admin", variables={"id": admin})).ok()
    assert refused["deactivateUser"]["userErrors"][0]["code"] == "SELF"
    assert await db.fetchval("SELECT is_active FROM app_user WHERE username = 'admin'")


async def test_principal_manages_only_their_school(gql: Gql, db: asyncpg.Connection, made) -> None:
    _, school = await _school(db)
    _, other = await _other_school(db)
    payload, name = await create(
        gql, "principal", made, roles=[{"role": "TEACHER", "schoolId": school}]
    )
    assert payload["userErrors"] == [] and payload["user"]["username"] == name
    # Another school's role: FORBIDDEN, nothing created.
    other_name = _username()
    made.append(other_name)
    response = await gql(
        CREATE,
        as_user="principal",
        variables={
            "input": {
                "username": other_name,
                "firstName": "A",
                "lastName": "B",
                "roles": [{"role": "TEACHER", "schoolId": other}],
            }
        },
    )
    assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await db.fetchval("SELECT count(*) FROM app_user WHERE username = $1", other_name) == 0
    # No role at all: the account would be outside the principal's reach.
    bare = (
        await gql(
            CREATE,
            as_user="principal",
            variables={"input": {"username": other_name, "firstName": "A", "lastName": "B"}},
        )
    ).ok()["createUser"]
    assert bare["userErrors"][0]["field"] == ["roles"]

    # The principal deactivates a teacher of their school, not the admin nor another school's.
    off = (await gql(DEACTIVATE, as_user="principal", variables={"id": payload["user"]["id"]})).ok()
    assert off["deactivateUser"]["user"]["isActive"] is False
    admin = to_global_id(
        "StaffMember", await db.fetchval("SELECT id FROM app_user WHERE username = 'admin'")
    )
    refused = (await gql(DEACTIVATE, as_user="principal", variables={"id": admin})).ok()
    assert refused["deactivateUser"]["userErrors"][0]["code"] == "NOT_FOUND"
    elsewhere = await db.fetchval(
        "SELECT u.id FROM app_user u JOIN role_assignment ra ON ra.user_id = u.id"
        " WHERE ra.role = 'teacher' AND ra.school_id = $1 ORDER BY u.id LIMIT 1",
        int(
            await db.fetchval(
                "SELECT id FROM school WHERE district_id = 1 AND id <> 1"
                " AND level = 'high' ORDER BY id"
            )
        ),
    )
    refused = (
        await gql(
            DEACTIVATE,
            as_user="principal",
            variables={"id": to_global_id("StaffMember", elsewhere)},
        )
    ).ok()
    assert refused["deactivateUser"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert await db.fetchval("SELECT is_active FROM app_user WHERE id = $1", elsewhere)
    # A teacher manages no account.
    response = await gql(DEACTIVATE, as_user="teacher", variables={"id": payload["user"]["id"]})
    assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_last_district_administrator_stays(
    database_url: str, db: asyncpg.Connection
) -> None:
    # Through the API the actor is an active district administrator, so another always remains;
    # the write itself refuses to leave the district without one whoever asks.
    from app.accounts import users
    from app.database import create_engine
    from app.writes import Actor, WriteRefused

    admin = await db.fetchval("SELECT id FROM app_user WHERE username = 'admin'")
    others = await db.fetchval(
        "SELECT count(*) FROM app_user u JOIN role_assignment ra ON ra.user_id = u.id"
        " WHERE ra.role = 'district_admin' AND ra.school_id IS NULL AND u.district_id = 1"
        " AND u.is_active AND u.id <> $1",
        admin,
    )
    assert others == 0
    reporter = await db.fetchval("SELECT id FROM app_user WHERE username = 'reporter'")
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(WriteRefused) as refused:
                await users.set_active(
                    connection, Actor(reporter, 1, "test"), user_id=admin, active=False
                )
            await connection.rollback()
    finally:
        await engine.dispose()
    assert refused.value.code == "LAST_ADMIN"
    assert await db.fetchval("SELECT is_active FROM app_user WHERE id = $1", admin)
