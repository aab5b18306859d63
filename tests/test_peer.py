"""The benchmark's peer (`scripts/bench --peer`): PostGraphile v4's row-level security lists
exactly the students SchoolGraph lists, account by account, on a small district. Skipped where
Node.js or npm is missing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.auth import issue_token
from app.config import get_settings
from app.database import asyncpg_dsn, setup_roles
from app.roles import APP_ROLE, with_user
from app.seed.accounts import DEMO_ACCOUNTS
from bench import database
from bench.peer import compare
from bench.peer import database as peer_database
from bench.peer.install import PeerUnavailable, postgraphile
from bench.peer.server import PostGraphile
from bench.servers import SCHOOLGRAPH, Server
from schema.relay import to_global_id

SCHOOLGRAPH_QUERY = "{ students(first: 1000) { edges { node { id firstName lastName } } } }"
# A student may not list by name (a classmate's last name is not theirs to read, SPEC §5), so
# their students are the ones `student(id:)` answers, asked for every student of the district.
SCHOOLGRAPH_ONE = "s{n}: student(id: {id}) {{ id }}"
PEER_QUERY = "{ allStudents { nodes { id firstName lastName } } }"
ACCOUNTS = [account.username for account in DEMO_ACCOUNTS]


Servers = tuple[Server, Server, dict[str, int], list[int]]


@pytest.fixture(scope="module")
def servers(admin_database_url: str) -> Iterator[Servers]:
    """SchoolGraph and PostGraphile over one peer database (SchoolGraph's tables are all there),
    and the demo accounts' ids."""
    try:
        executable = postgraphile()
    except PeerUnavailable as exc:
        pytest.skip(str(exc))
    template = database.prepare_template(admin_database_url, students=400, progress=False)
    url = peer_database.prepare(template)

    async def ids() -> tuple[dict[str, int], list[int]]:
        await setup_roles(url)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await connection.fetch(
                "SELECT username, id FROM app_user WHERE username = ANY($1)", ACCOUNTS
            )
            students = await connection.fetch("SELECT id FROM student ORDER BY id")
        finally:
            await connection.close()
        return {r["username"]: r["id"] for r in rows}, [r["id"] for r in students]

    try:
        users, students = asyncio.run(ids())
        ours = Server(SCHOOLGRAPH, with_user(url, APP_ROLE))
        theirs = PostGraphile("postgraphile", url, executable=executable)
        with ours, theirs:
            yield ours, theirs, users, students
    finally:
        database.drop_database(url)


def _post(server: Server, query: str, token: str) -> dict[str, object]:
    response = httpx.post(
        server.base_url + "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert not body.get("errors"), body
    return body


def _readable(server: Server, token: str, students: list[int]) -> set[int]:
    """The students `student(id:)` answers for, asked in batches of aliases."""
    found = set()
    for start in range(0, len(students), 25):
        batch = students[start : start + 25]
        fields = " ".join(
            SCHOOLGRAPH_ONE.format(n=n, id=f'"{to_global_id("Student", i)}"')
            for n, i in enumerate(batch)
        )
        data = _post(server, "{ " + fields + " }", token)["data"]
        assert isinstance(data, dict)
        found |= {i for n, i in enumerate(batch) if data[f"s{n}"] is not None}
    return found


@pytest.mark.parametrize("username", ACCOUNTS)
def test_the_peer_lists_the_students_schoolgraph_lists(servers: Servers, username: str) -> None:
    ours, theirs, users, students = servers
    user_id = users[username]
    token = issue_token(user_id, get_settings(), ttl=timedelta(hours=1))
    data = _post(theirs, PEER_QUERY, peer_database.token(user_id))["data"]
    assert isinstance(data, dict)
    found = compare.peer_rows(data)
    if username == "student":
        assert {dict(row)["id"] for row in found} == _readable(ours, token, students)
    else:
        listed = _post(ours, SCHOOLGRAPH_QUERY, token)["data"]
        assert isinstance(listed, dict)
        assert found == compare.schoolgraph_rows(listed)
    if username in ("teacher", "guardian", "student", "admin", "coordinator"):
        assert found, f"{username} should see some students"


def test_the_peer_refuses_a_request_without_a_token(servers: Servers) -> None:
    theirs = servers[1]
    response = httpx.post(theirs.base_url + "/graphql", json={"query": PEER_QUERY}, timeout=60)
    assert "permission denied" in response.text


def test_without_node_the_peer_is_unavailable_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with neither node nor npm
    with pytest.raises(PeerUnavailable, match=r"Node\.js and npm are not on this machine"):
        postgraphile()
