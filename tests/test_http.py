"""The GraphQL endpoint over HTTP: bad input, limits, status codes, masking, anonymous callers,
GraphiQL and the operational endpoints."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from app.asgi import create_app
from app.auth import issue_token
from app.config import get_settings
from tests.factories import create_user, delete_user, login_state
from tests.helpers import GraphQLResponse, nodes

SETTINGS = get_settings()
STUDENT_IDS = "{ students(first: 5) { edges { node { id } } } }"
# What a response must never carry: stack traces, SQL, driver or library names.
LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|\bSELECT\b|\bFROM\b|\bUPDATE\b|\bWHERE\b|"
    r"(?i:asyncpg|sqlalchemy|psycopg|statement timeout|canceling statement)"
)

Gql = Callable[..., Awaitable[GraphQLResponse]]


def _global_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def _post(
    client: httpx.AsyncClient,
    query: str,
    *,
    token: str | None = None,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return await client.post("/graphql", json=body, headers=all_headers)


def _messages(response: httpx.Response) -> str:
    return " | ".join(e["message"] for e in response.json()["errors"])


@pytest.fixture
async def accounts(db: asyncpg.Connection) -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """`await accounts()`: a fresh account (id) of the second district, deleted after the test."""
    made: list[int] = []

    async def make(**options: Any) -> int:
        user_id, _ = await create_user(db, **options)
        made.append(user_id)
        return user_id

    yield make
    for user_id in made:
        await delete_user(db, user_id)


async def _username(db: asyncpg.Connection, user_id: int) -> str:
    return str(await db.fetchval("SELECT username FROM app_user WHERE id = $1", user_id))


def _login(username: str, password: str, alias: str = "login") -> str:
    return (
        f'{alias}: login(input: {{username: "{username}", password: "{password}"}})'
        " { token userErrors { message code } }"
    )


# --- Malformed requests ---------------------------------------------------------------------


async def test_malformed_json_body_is_400_with_json_error(client):
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ viewer { id } }"',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert "JSON" in _messages(response)


async def test_body_without_query_is_400(client):
    response = await client.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert "query" in _messages(response).lower()


# A request error (parse, validation, variables) is 200 with `application/json` (what httpx
# accepts by default) and has no `data`: nothing ran. With `application/graphql-response+json`
# it is 400 (tests/test_graphql_over_http.py).


async def test_unknown_field_is_a_request_error_and_names_it(client, token_for):
    response = await _post(
        client, "{ students { edges { node { shoeSize } } } }", token=await token_for("admin")
    )
    assert response.status_code == 200
    assert "data" not in response.json()
    assert "Cannot query field 'shoeSize' on type 'Student'" in _messages(response)


async def test_wrong_variable_type_is_a_request_error_naming_the_variable(client, token_for):
    response = await _post(
        client,
        "query ($n: Int) { students(first: $n) { edges { node { id } } } }",
        token=await token_for("admin"),
        variables={"n": "ten"},
    )
    assert response.status_code == 200
    assert "data" not in response.json()
    assert "Variable '$n' has invalid value" in _messages(response)


async def test_missing_required_variable_is_a_request_error(client, token_for):
    response = await _post(
        client, "query ($id: ID!) { student(id: $id) { id } }", token=await token_for("admin")
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$id" in _messages(response)


# --- Query limits ---------------------------------------------------------------------------


def _deep_query(depth: int) -> str:
    """A query whose deepest field is `depth` levels below the root field (the limiter's count).

    It walks students → classes → students ..., each hop being four levels.
    """
    hop = ["classes", "students(first: 1)", "edges", "node"]
    fields = ["students(first: 1)", "edges", "node"]
    while len(fields) < depth:
        fields.append(hop[(len(fields) - 3) % 4])
    # The leaf must be a scalar of whatever type the last field returns.
    last = fields[-1].split("(")[0]
    leaf = {"node": "id", "edges": "cursor", "students": "totalCount", "classes": "title"}[last]
    return "{ " + " { ".join(fields) + " { " + leaf + " }" * len(fields) + " }"


async def test_query_deeper_than_max_depth_is_refused(client, token_for):
    token = await token_for("admin")
    within = await _post(client, _deep_query(SETTINGS.max_depth), token=token)
    assert within.status_code == 200, within.json()
    too_deep = await _post(client, _deep_query(SETTINGS.max_depth + 1), token=token)
    assert too_deep.status_code == 200
    assert "data" not in too_deep.json()
    assert f"exceeds maximum operation depth of {SETTINGS.max_depth}" in _messages(too_deep)


def _aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: viewer {{ username }}" for i in range(count)) + " }"


async def test_more_aliases_than_allowed_is_refused(client, token_for):
    token = await token_for("admin")
    assert (await _post(client, _aliased(SETTINGS.max_aliases), token=token)).status_code == 200
    response = await _post(client, _aliased(SETTINGS.max_aliases + 1), token=token)
    assert response.status_code == 200
    assert "data" not in response.json()
    assert f"{SETTINGS.max_aliases + 1} aliases found. Allowed: {SETTINGS.max_aliases}" in (
        _messages(response)
    )


async def test_more_tokens_than_allowed_is_refused(client, token_for):
    # A default value is a cheap way to make a long document that is otherwise valid.
    numbers = ", ".join("1" for _ in range(SETTINGS.max_tokens))
    query = f"query ($n: [Int] = [{numbers}]) {{ viewer {{ username }} }}"
    response = await _post(client, query, token=await token_for("admin"))
    assert response.status_code == 200
    assert "data" not in response.json()
    assert f"more than {SETTINGS.max_tokens} tokens" in _messages(response)


@pytest.mark.parametrize(
    "query",
    [
        "query ($n: Int) { students(first: $n) { edges { node { id } } } }",
        "query ($n: Int) { classes(first: $n) { edges { node { id } } } }",
        "query ($n: Int) { classes(first: 1) { edges { node { students(first: $n)"
        " { edges { node { id } } } } } } }",
    ],
    ids=["students", "classes", "class-roster"],
)
async def test_first_above_the_page_cap_is_refused_clearly(client, token_for, query):
    token = await token_for("admin")
    cap = SETTINGS.max_page_size
    at_cap = await _post(client, query, token=token, variables={"n": cap})
    assert at_cap.status_code == 200, at_cap.json()
    response = await _post(client, query, token=token, variables={"n": cap + 1})
    body = response.json()
    assert body["errors"], body
    error = body["errors"][0]
    assert error["message"] == f"`first` must be between 0 and {cap}"
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first", "maximum": cap}
    negative = await _post(client, query, token=token, variables={"n": -1})
    assert negative.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- Methods and media types ----------------------------------------------------------------


async def test_get_runs_queries(client, token_for):
    response = await client.get(
        "/graphql",
        params={"query": "{ viewer { username } }"},
        headers={"Authorization": f"Bearer {await token_for('teacher')}"},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"username": "teacher"}}


async def test_get_refuses_a_mutation_with_405_and_runs_nothing(client, db, accounts):
    user_id = await accounts()
    query = "mutation { " + _login(await _username(db, user_id), "wrong-Password-1") + " }"
    response = await client.get("/graphql", params={"query": query})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "mutations are not allowed" in _messages(response)
    assert await login_state(db, user_id) == (0, False)


async def test_graphql_response_json_is_served_when_accepted(client, token_for):
    token = await token_for("teacher")
    media = "application/graphql-response+json"
    response = await _post(
        client,
        "{ viewer { username } }",
        token=token,
        headers={"Accept": f"{media}, application/json;q=0.9"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert response.json()["data"] == {"viewer": {"username": "teacher"}}
    invalid = await _post(client, "{ nothingHere }", token=token, headers={"Accept": media})
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith(media)
    plain = await _post(client, "{ viewer { username } }", token=token)
    assert plain.headers["content-type"].startswith("application/json")


# --- Errors are masked; a failed request writes nothing -------------------------------------


async def test_invalid_global_id_is_a_clear_bad_input_error(client, token_for):
    response = await _post(
        client, 'query { student(id: "not-an-id!") { id } }', token=await token_for("admin")
    )
    body = response.json()
    assert body["data"] == {"student": None}
    [error] = body["errors"]
    assert error["message"] == "'not-an-id!' is not a valid id"
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert not LEAKS.search(response.text), response.text


async def test_global_id_of_another_type_is_bad_input(client, token_for):
    response = await _post(
        client,
        "query ($id: ID!) { student(id: $id) { id } }",
        token=await token_for("admin"),
        variables={"id": _global_id("School:1")},
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "is not the id of a Student" in error["message"]


async def test_invalid_cursor_is_refused_and_masked(client, token_for):
    response = await _post(
        client,
        '{ students(after: "%%%") { edges { node { id } } } }',
        token=await token_for("admin"),
    )
    # Refused by the field as it ran: 200, like any field error, whatever the field's nullability.
    assert response.status_code == 200
    assert response.json()["data"] is None
    [error] = response.json()["errors"]
    assert (error["path"], error["extensions"]["code"]) == (["students"], "BAD_USER_INPUT")
    assert error["message"] == "`after` is not a cursor this list gave you"
    assert not LEAKS.search(response.text), response.text


async def test_cursor_beyond_any_row_id_is_masked(client, token_for):
    # Decodes as a cursor, but the number does not fit a bigint: whatever the server makes of it,
    # the caller sees no SQL and no trace.
    response = await _post(
        client,
        "query ($after: String) { students(after: $after) { edges { node { id } } } }",
        token=await token_for("admin"),
        variables={"after": _global_id("c:" + "9" * 30)},
    )
    assert response.status_code in (200, 500)
    assert response.json()["data"] is None
    assert not LEAKS.search(response.text), response.text


async def test_cursor_beyond_any_row_id_is_bad_input(client, token_for):
    response = await _post(
        client,
        "query ($after: String) { students(after: $after) { edges { node { id } } } }",
        token=await token_for("admin"),
        variables={"after": _global_id("c:" + "9" * 30)},
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture
async def impatient_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose statements time out after a quarter of a second."""
    settings = dataclasses.replace(SETTINGS, statement_timeout_ms=250)
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
            yield c


async def test_a_timed_out_request_is_refused_and_keeps_only_the_failures(
    impatient_client, db, accounts
):
    counted, blocked = await accounts(), await accounts()
    counted_name, blocked_name = await _username(db, counted), await _username(db, blocked)
    query = (
        "mutation { "
        + _login(counted_name, "wrong-Password-1", "first")
        + " "
        + _login(blocked_name, "wrong-Password-1", "second")
        + " }"
    )
    # Control: the same request, unhindered, records both failed attempts.
    response = await _post(impatient_client, query)
    assert response.status_code == 200, response.json()
    assert await login_state(db, counted) == (1, False)

    # Hold the second account's row so that the second login times out in the database.
    async with db.transaction():
        await db.execute("SELECT 1 FROM app_user WHERE id = $1 FOR UPDATE", blocked)
        response = await _post(impatient_client, query)
    assert response.status_code == 503
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TIMEOUT"]
    assert not LEAKS.search(response.text), response.text
    # The request rolled back, but the first login's failure was counted on a connection of its
    # own and stays; the second, which timed out while counting, changed nothing.
    assert await login_state(db, counted) == (2, False)
    assert await login_state(db, blocked) == (1, False)


async def test_a_request_answered_with_no_data_still_counts_its_failed_login(client, db, accounts):
    user_id = await accounts()
    attempt = _login(await _username(db, user_id), "wrong-Password-1", "first")
    # The second field needs a signed-in viewer: refused, it nulls the whole answer.
    refused = (
        'second: recordMark(input: {studentId: "U3R1ZGVudDox", classId: "Q2xhc3M6MQ==",'
        ' score: "50"}) { userErrors { message } }'
    )
    response = await _post(client, f"mutation {{ {attempt} {refused} }}")
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert "UNAUTHENTICATED" in {e["extensions"]["code"] for e in response.json()["errors"]}
    # The rest of the request rolled back; the failed sign-in was counted on its own connection.
    assert await login_state(db, user_id) == (1, False)
    # Alone, the same attempt is answered and counted too.
    assert (await _post(client, f"mutation {{ {attempt} }}")).status_code == 200
    assert await login_state(db, user_id) == (2, False)


async def test_two_root_fields_both_see_the_viewer(gql):
    data = (
        await gql(
            "{ viewer { username } students(first: 2) { edges { node { id } } } }", as_user="admin"
        )
    ).ok()
    assert data["viewer"]["username"] == "admin"
    assert len(nodes(data["students"])) == 2


async def test_unknown_account_with_two_root_fields_is_answered_cleanly(client, token_for):
    # One root field refused while the other's statement is under way: the request must still
    # end in a clean refusal (it once failed at commit, on the transaction the refusal had
    # cancelled). The token is valid, its account unknown: a field error, so 200.
    admin, unknown = await token_for("admin"), issue_token(2**40, SETTINGS)
    for _ in range(3):
        assert (await _post(client, "{ viewer { username } }", token=admin)).status_code == 200
        response = await _post(
            client, "{ viewer { username } students { edges { node { id } } } }", token=unknown
        )
        assert response.status_code == 200
        assert response.json()["data"] is None
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- Anonymous callers see nothing ----------------------------------------------------------


async def _some_student_id(gql: Gql) -> str:
    return str(nodes((await gql(STUDENT_IDS, as_user="admin")).ok()["students"])[0]["id"])


async def test_anonymous_students_is_refused(gql):
    response = await gql(STUDENT_IDS)
    assert response.status == 200
    assert response.data is None
    assert response.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_anonymous_student_and_node_are_null(gql):
    student_id = await _some_student_id(gql)
    for query in (
        "query ($id: ID!) { student(id: $id) { id firstName } }",
        "query ($id: ID!) { node(id: $id) { id ... on Student { firstName } } }",
    ):
        response = await gql(query, variables={"id": student_id})
        assert response.data is None or set(response.data.values()) == {None}, response.body
        assert {e["extensions"]["code"] for e in response.errors} == {"UNAUTHENTICATED"}


async def test_anonymous_classes_is_refused(gql):
    response = await gql("{ classes { edges { node { id title } } } }")
    assert response.data is None
    assert response.status == 200
    assert response.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_anonymous_viewer_is_null(gql):
    response = await gql("{ viewer { username } }")
    assert response.status == 200
    assert response.data == {"viewer": None}
    assert not response.errors


# --- GraphiQL, health, metrics --------------------------------------------------------------


async def test_graphiql_page_loads_its_assets_locally(client):
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    found = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assets = [a for a in found if not a.startswith("data:")]  # the empty favicon
    scripts = [a for a in assets if a.endswith(".js")]
    styles = [a for a in assets if a.endswith(".css")]
    assert scripts and styles, assets
    assert "http://" not in page.text and "https://" not in page.text
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        expected = "javascript" if url.endswith(".js") else "text/css"
        assert expected in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 100, url


async def test_missing_asset_is_404(client):
    assert (await client.get("/graphiql/vendor/nothing-here.js")).status_code == 404


async def test_health_and_readiness(client):
    health = await client.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok")
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


async def test_metrics_are_prometheus_text(client, gql):
    await gql("{ viewer { username } }", as_user="teacher")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = dict(
        line.rsplit(" ", 1) for line in response.text.splitlines() if not line.startswith("#")
    )
    assert int(values["schoolgraph_graphql_requests_total"]) >= 1
    assert int(values["schoolgraph_sql_statements_total"]) >= 1
    assert "schoolgraph_casbin_calls_total" in values


@pytest.mark.parametrize(
    "body",
    [
        {"query": 'mutation { login(input: {username: "a\\u0000b", password: "x"}) { token } }'},
        {
            "query": "query ($name: String!) { students(filter: {nameStartsWith: $name}) "
            "{ totalCount } }",
            "variables": {"name": "Jo\x00"},
        },
    ],
)
async def test_nul_characters_are_refused(client, token_for, body):
    headers = {"Authorization": f"Bearer {await token_for('admin')}"}
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 400
    assert "NUL" in response.text
