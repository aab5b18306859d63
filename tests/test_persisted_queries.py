"""Persisted queries over the real HTTP layer: the automatic protocol, the allow-list mode, and
`schoolgraph persisted-queries` registering a client's documents."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from collections.abc import AsyncIterator
from html import escape
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import graphiql
from app.asgi import create_app
from app.config import get_settings
from app.graphiql import markup
from app.persisted.protocol import BUILTIN_DOCUMENTS
from app.persisted.store import AutomaticCache, sha256_hex
from tests.test_cli import _run

QUERY = "{ schools { name } }"


def _persisted(sha256: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256}}


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(database_url, "persisted-queries", *args)


async def test_unknown_hash_then_document_then_hash_alone(client, token_for):
    headers = {"Authorization": f"Bearer {await token_for('admin')}"}
    query = QUERY + " # automatic"
    sha256 = sha256_hex(query)
    first = await client.post("/graphql", json={"extensions": _persisted(sha256)}, headers=headers)
    assert first.status_code == 400
    error = first.json()["errors"][0]
    # What Apollo Client's link matches on (either is enough): the message and the code.
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    both = await client.post(
        "/graphql", json={"query": query, "extensions": _persisted(sha256)}, headers=headers
    )
    assert both.status_code == 200, both.json()
    names = both.json()["data"]["schools"]
    assert names
    again = await client.post("/graphql", json={"extensions": _persisted(sha256)}, headers=headers)
    assert again.json()["data"]["schools"] == names
    # GET, as the link sends hashed queries with `useGETForHashedQueries`.
    get = await client.get(
        "/graphql", params={"extensions": json.dumps(_persisted(sha256))}, headers=headers
    )
    assert get.status_code == 200
    assert get.json()["data"]["schools"] == names


async def test_a_hash_that_is_not_the_documents_is_refused(client):
    response = await client.post(
        "/graphql", json={"query": QUERY, "extensions": _persisted(sha256_hex(QUERY + " "))}
    )
    assert response.status_code == 400
    assert _code(response) == "PERSISTED_QUERY_HASH_MISMATCH"


@pytest.mark.parametrize(
    ("persisted", "code", "words"),
    [
        ({"version": 2, "sha256Hash": "a" * 64}, "PERSISTED_QUERY_VERSION_NOT_SUPPORTED", "only"),
        ({"version": 1, "sha256Hash": "xyz"}, "BAD_REQUEST", "SHA-256"),
        ("a" * 64, "BAD_REQUEST", "object"),
    ],
)
async def test_malformed_persisted_query_extensions_are_refused(client, persisted, code, words):
    response = await client.post("/graphql", json={"extensions": {"persistedQuery": persisted}})
    assert response.status_code == 400
    assert _code(response) == code
    assert words in response.json()["errors"][0]["message"]


async def test_a_mutation_by_hash_is_refused_over_get(client):
    document = BUILTIN_DOCUMENTS[0]
    sha256 = sha256_hex(document)
    await client.post(
        "/graphql",
        json={
            "query": document,
            "variables": {"input": {"username": "nobody", "password": "x"}},
            "extensions": _persisted(sha256),
        },
    )
    response = await client.get(
        "/graphql",
        params={
            "extensions": json.dumps(_persisted(sha256)),
            "variables": json.dumps({"input": {"username": "nobody", "password": "x"}}),
        },
    )
    assert response.status_code == 405


def test_the_automatic_cache_forgets_the_least_recently_used_past_its_size():
    cache = AutomaticCache(max_chars=30)
    for name in "abc":
        cache.put(name, name * 10)
    assert cache.get("a") == "a" * 10  # now the most recently used
    cache.put("d", "d" * 10)
    assert cache.get("b") is None and cache.get("a") and cache.get("d")
    assert cache.chars <= 30
    cache.put("huge", "x" * 31)
    assert cache.get("huge") is None


async def _eventually(client: httpx.AsyncClient, body: dict[str, Any], *, allowed: bool) -> bool:
    """Whether the request comes to be allowed (or refused) within a few seconds."""
    for _ in range(100):
        response = await client.post("/graphql", json=body)
        refused = response.status_code == 400 and _code(response) == "PERSISTED_QUERY_NOT_ALLOWED"
        if refused != allowed:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
async def allowlist(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = dataclasses.replace(get_settings(), persisted_queries="allowlist")
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
            yield c


@pytest.fixture
def registered(database_url: str, tmp_path: Path) -> Any:
    """Files of a client's documents, registered as `test-app`, removed afterwards."""
    graphql_file = tmp_path / "schools.graphql"
    graphql_file.write_text("query Schools {\n  schools { name }\n}\n")
    students = "query Students { students(first: 1) { totalCount } }"
    manifest = tmp_path / "persisted-query-manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": sha256_hex(students), "name": "Students", "type": "query",
                     "body": students},
                ],
            }
        )
    )  # fmt: skip
    relay = tmp_path / "relay.json"
    viewer = "query Viewer { viewer { username } }"
    relay.write_text(json.dumps({sha256_hex(viewer): viewer}))
    done = _cli(database_url, "register", str(graphql_file), str(manifest), str(relay),
                "--client", "test-app")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    yield {"graphql": graphql_file.read_text(), "students": students, "viewer": viewer}
    _cli(database_url, "remove", "--client", "test-app", "--all")


async def test_allowlist_runs_registered_documents_only(registered, allowlist, token_for):
    headers = {"Authorization": f"Bearer {await token_for('teacher')}"}
    by_hash = await allowlist.post(
        "/graphql",
        json={"extensions": _persisted(sha256_hex(registered["students"]))},
        headers=headers,
    )
    assert by_hash.status_code == 200, by_hash.json()
    assert by_hash.json()["data"]["students"]["totalCount"] > 0
    # The exact text of a registered document runs without a hash (curl, a .graphql file).
    as_text = await allowlist.post("/graphql", json={"query": registered["graphql"]})
    assert as_text.status_code != 400 or _code(as_text) != "PERSISTED_QUERY_NOT_ALLOWED"
    for body in (
        {"query": QUERY},
        {"query": QUERY, "extensions": _persisted(sha256_hex(QUERY))},
        {"extensions": _persisted(sha256_hex(QUERY))},
    ):
        refused = await allowlist.post("/graphql", json=body, headers=headers)
        assert refused.status_code == 400
        assert _code(refused) == "PERSISTED_QUERY_NOT_ALLOWED"
        assert "extensions" in refused.json()  # the request id
        assert "sqlStatements" not in refused.json()["extensions"]  # refused before any SQL


async def test_allowlist_leaves_graphiql_to_staff_and_its_sign_in_to_everyone(
    registered, allowlist, token_for
):
    free_form = {"query": "{ viewer { username } schools { name } }"}
    coordinator = {"Authorization": f"Bearer {await token_for('coordinator')}"}
    student = {"Authorization": f"Bearer {await token_for('student')}"}
    assert (
        await allowlist.post("/graphql", json=free_form, headers=coordinator)
    ).status_code == 200
    refused = await allowlist.post("/graphql", json=free_form, headers=student)
    assert _code(refused) == "PERSISTED_QUERY_NOT_ALLOWED"
    sign_in = await allowlist.post(
        "/graphql",
        json={
            "query": BUILTIN_DOCUMENTS[0],
            "variables": {"input": {"username": "teacher", "password": "demo-password-1"}},
        },
    )
    assert sign_in.status_code == 200, sign_in.json()
    assert sign_in.json()["data"]["login"]["token"]


def test_the_graphiql_page_sends_only_builtin_documents():
    """The page's sign-in must run in allow-list mode before anyone is signed in: the documents
    its script sends reach it from the page, which takes them from the built-in ones."""
    script = (Path(graphiql.__file__).parent / "static" / "graphiql-app.js").read_text()
    assert "query:" not in script.replace("query: config.", "")
    page = markup.render(get_settings())
    for document in BUILTIN_DOCUMENTS:
        assert f'"{escape(document)}"' in page


async def test_gql_printed_form_of_a_registered_document_is_allowed(registered, allowlist):
    from graphql import parse, print_ast

    printed = print_ast(parse(registered["graphql"]))
    assert printed != registered["graphql"]
    response = await allowlist.post(
        "/graphql", json={"query": printed, "extensions": _persisted(sha256_hex(printed))}
    )
    assert response.status_code != 400 or _code(response) != "PERSISTED_QUERY_NOT_ALLOWED"


def test_register_is_idempotent_and_lists(database_url, registered, tmp_path):
    relay = tmp_path / "relay.json"
    again = _cli(database_url, "register", str(relay), "--client", "test-app")
    assert again.returncode == 0, again.stderr
    assert "0 documents registered" in again.stdout
    listed = _cli(database_url, "list", "--client", "test-app")
    assert listed.returncode == 0
    assert sha256_hex(registered["viewer"]) in listed.stdout
    assert "Students" in listed.stdout


async def test_register_refuses_invalid_documents_with_a_line_each(database_url, tmp_path, db):
    bad = tmp_path / "bad.graphql"
    bad.write_text("{ students(first: 1) { nosuchfield } }")
    broken = tmp_path / "broken.graphql"
    broken.write_text("{ students(")
    wrong_id = tmp_path / "relay.json"
    wrong_id.write_text(json.dumps({"0" * 64: "{ viewer { username } }"}))
    done = _cli(database_url, "register", str(bad), str(broken), str(wrong_id),
                "--client", "bad-app")  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if line.startswith("refused:")]
    assert len(lines) == 3, done.stdout
    assert "nosuchfield" in lines[0] and "broken.graphql" in lines[1] and "SHA-256" in lines[2]
    count = await db.fetchval("SELECT count(*) FROM persisted_query WHERE client_name = 'bad-app'")
    assert count == 0


async def test_register_and_remove_are_audited_and_reach_a_running_server(
    database_url, tmp_path, db, allowlist
):
    document = tmp_path / "one.graphql"
    document.write_text("{ viewer { username } }")
    sha256 = sha256_hex(document.read_text())
    body = {"extensions": _persisted(sha256)}
    assert _code(await allowlist.post("/graphql", json=body)) == "PERSISTED_QUERY_NOT_ALLOWED"
    assert _cli(database_url, "register", str(document), "--client", "audited").returncode == 0
    # The running server is told (NOTIFY) and reloads without a restart.
    assert await _eventually(allowlist, body, allowed=True)
    removed = _cli(database_url, "remove", sha256, "--client", "audited")
    assert removed.returncode == 0, removed.stdout
    assert await _eventually(allowlist, body, allowed=False)
    rows = await db.fetch(
        "SELECT action, details FROM audit_event WHERE target_type = 'persisted_query'"
        " AND details->>'client' = 'audited' ORDER BY id"
    )
    assert [r["action"] for r in rows] == [
        "persisted_queries.register",
        "persisted_queries.remove",
    ]
    assert all(json.loads(r["details"])["by"] for r in rows)


async def test_the_server_role_may_not_register_documents(database_url):
    import asyncpg

    from app.database import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(
                "INSERT INTO persisted_query (client_name, sha256, document, registered_by)"
                " VALUES ('x', $1, '{ viewer { username } }', 'x')",
                "a" * 64,
            )
    finally:
        await connection.close()
