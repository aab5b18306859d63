"""Bad input over HTTP is always a refusal with `extensions.code`, never a 500, and never shows
SQL, driver text or a traceback; oversized bodies are refused before they are read.

A request that is not a GraphQL request is a 4xx; a GraphQL request error (parse, validation,
variables) is a 4xx for a client that reads `application/graphql-response+json`, as these tests
ask (with `application/json` it is a 200 whose body says why: tests/test_graphql_over_http.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from app.asgi import create_app
from app.config import get_settings
from tests.test_http import LEAKS

SETTINGS = get_settings()
# The media type whose statuses say whether a GraphQL request was refused before it ran.
STRICT = {"accept": "application/graphql-response+json"}
ADMIN_QUERY = "query ($s: String) { students(filter: {nameStartsWith: $s}) { totalCount } }"


def assert_refused(response: httpx.Response, status: int = 400, code: str | None = None) -> None:
    """A clear refusal: the status, a JSON body whose every error carries a code, no leak."""
    assert response.status_code == status, (response.status_code, response.text)
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in ("application/json", "application/graphql-response+json"), media_type
    body = response.json()
    assert body["errors"], body
    for error in body["errors"]:
        assert error["message"], body
        assert error["extensions"]["code"], body
    if code is not None:
        assert body["errors"][0]["extensions"]["code"] == code, body
    assert not LEAKS.search(response.text), response.text


async def _post_raw(
    client: httpx.AsyncClient, body: bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return await client.post("/graphql", content=body, headers=headers)


# --- Bodies that used to be a 500 -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ viewer { username } }\xff"}',
        b'{"query": "{ viewer { username } }", "variables": {"s": "\xff"}}',
        b"42",
        b'"{ viewer { username } }"',
        b"null",
        b"true",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"query": ' * 50_000 + b"1" + b"}" * 50_000,
        b'{"query": "' + ADMIN_QUERY.encode() + b'", "variables": {"s": "\\ud800"}}',
        b'{"query": "{ viewer { username } }", "variables": [1]}',
        b'{"query": "{ viewer { username } }", "variables": "{}"}',
        b'{"query": "{ viewer { username } }", "operationName": 42}',
        b'{"query": "{ viewer { username } }", "operationName": ["a"]}',
        b'{"query": "{ viewer { username } }", "extensions": 1}',
        b'{"query": 42}',
        b'{"query": "{ viewer { username } }"}' * 2,
        b"[]",
        b'[{"query": "{ viewer { username } }"}]',
    ],
    ids=[
        "invalid-utf8",
        "invalid-utf8-variable",
        "number",
        "string",
        "null",
        "true",
        "deep-array",
        "deep-object",
        "lone-surrogate-variable",
        "variables-list",
        "variables-string",
        "operation-name-number",
        "operation-name-list",
        "extensions-number",
        "query-number",
        "two-documents",
        "empty-batch",
        "batch",
    ],
)
async def test_bad_body_is_a_clear_400(client, token_for, body):
    response = await client.post(
        "/graphql",
        content=body,
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {await token_for('admin')}",
        },
    )
    assert_refused(response, 400, "BAD_REQUEST")


async def test_lone_surrogate_in_a_graphql_string_is_refused(client, token_for):
    response = await client.post(
        "/graphql",
        json={"query": ADMIN_QUERY.replace("$s", '"\\ud800"').replace("query ($s: String) ", "")},
        headers={"authorization": f"Bearer {await token_for('admin')}", **STRICT},
    )
    assert 400 <= response.status_code < 500, response.text
    assert not LEAKS.search(response.text), response.text


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_wrong_content_type_is_a_clear_415(client, content_type):
    response = await _post_raw(client, b'{"query": "{ viewer { username } }"}', content_type)
    assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert response.headers["accept-post"] == "application/json"


@pytest.mark.parametrize(
    "query_string",
    [
        "query=%ff%fe",
        "query=%",
        "query=%zz",
        "query=%7B+viewer+%7B+username+%7D+%7D&variables=%ff",
        "query=%7B+viewer+%7B+username+%7D+%7D&variables=42",
        "query=%7B+viewer+%7B+username+%7D+%7D&variables=%5B",
        "query=%7B+viewer+%7B+username+%7D+%7D&variables=%22%5Cud800%22",
        "query=%7B+viewer+%7B+username+%7D+%7D&extensions=7",
        "variables=%7B%7D",
        "query=",
    ],
)
async def test_bad_query_string_is_a_clear_4xx(client, query_string):
    response = await client.get(f"/graphql?{query_string}", headers=STRICT)
    assert 400 <= response.status_code < 500, response.text
    assert_refused(response, response.status_code)


async def test_token_subject_beyond_any_id_is_unauthenticated(client):
    claims = {
        "sub": "9" * 40,
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "iat": 1_700_000_000,
        "exp": 4_000_000_000,
    }
    token = jwt.encode(claims, SETTINGS.jwt_secret, algorithm="HS256")
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { username } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert_refused(response, 401, "UNAUTHENTICATED")


# --- Several operations -----------------------------------------------------------------------

TWO_OPERATIONS = "query A { viewer { username } } query B { viewer { id } }"


async def test_several_operations_without_a_name_are_refused(client, token_for):
    headers = {"authorization": f"Bearer {await token_for('admin')}", **STRICT}
    response = await client.post("/graphql", json={"query": TWO_OPERATIONS}, headers=headers)
    assert_refused(response, 400, "OPERATION_RESOLUTION_FAILURE")
    assert "data" not in response.json()
    assert "operationName" in response.json()["errors"][0]["message"]
    chosen = await client.post(
        "/graphql", json={"query": TWO_OPERATIONS, "operationName": "B"}, headers=headers
    )
    assert chosen.status_code == 200, chosen.text
    assert set(chosen.json()["data"]["viewer"]) == {"id"}


async def test_an_unknown_operation_name_is_refused(client, token_for):
    headers = {"authorization": f"Bearer {await token_for('admin')}", **STRICT}
    response = await client.post(
        "/graphql", json={"query": TWO_OPERATIONS, "operationName": "C"}, headers=headers
    )
    assert_refused(response, 400, "OPERATION_RESOLUTION_FAILURE")
    assert "data" not in response.json()


# --- Every GraphQL error of a refused request has a code --------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ viewer { username ", None, "GRAPHQL_PARSE_FAILED"),
        ("{}", None, "GRAPHQL_PARSE_FAILED"),  # no empty selection sets (a 500 before)
        ("{ viewer { shoeSize } }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("query ($n: Int) { students(first: $n) { totalCount } }", {"n": "x"}, "BAD_USER_INPUT"),
        ("query ($n: Int!) { students(first: $n) { totalCount } }", None, "BAD_USER_INPUT"),
    ],
)
async def test_graphql_errors_carry_a_code(client, token_for, query, variables, code):
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {await token_for('admin')}", **STRICT},
    )
    assert_refused(response, 400, code)
    assert "data" not in response.json()


# --- Fuzzing ----------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_requests = st.fixed_dictionaries(
    {},
    optional={
        "query": st.sampled_from(
            ["{ viewer { username } }", "query Q($s: String) { viewer { id } }", "{", "mutation"]
        )
        | st.text(max_size=40),
        "variables": _json_values,
        "operationName": _json_values,
        "extensions": _json_values,
    },
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _requests.map(lambda r: json.dumps(r).encode()),
    _json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=_bodies, content_type=st.sampled_from(["application/json", "text/plain", None]))
async def test_fuzzed_bodies_never_answer_5xx(client, body, content_type):
    response = await _post_raw(client, body, content_type)
    assert response.status_code < 500, (body, response.text)
    assert not LEAKS.search(response.text), response.text
    if response.status_code >= 400:
        assert_refused(response, response.status_code)
    for error in response.json().get("errors", []):
        assert error["extensions"]["code"], response.text


# --- Body size --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def small_app(database_url: str) -> AsyncIterator[Starlette]:
    """An application that accepts bodies of at most 10 KiB."""
    application = create_app(
        dataclasses.replace(SETTINGS, max_body_bytes=10 * 1024), database_url=database_url
    )
    async with application.router.lifespan_context(application):
        yield application


def test_default_body_limit_fits_a_large_document():
    assert SETTINGS.max_body_bytes == 1024 * 1024


async def test_body_over_the_limit_is_413(client):
    padding = " " * (SETTINGS.max_body_bytes + 1)
    response = await _post_raw(client, b'{"query": "{ viewer { username } }"' + padding.encode())
    assert_refused(response, 413, "PAYLOAD_TOO_LARGE")
    within = await client.post("/graphql", json={"query": "{ viewer { username } }"})
    assert within.status_code == 200


async def test_declared_length_over_the_limit_is_refused_before_reading(small_app):
    """The server answers from the headers alone: the body is never asked for."""
    received: list[Any] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(True)
        return {"type": "http.request", "body": b"{}" * 10_000, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"5000000")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await small_app(scope, receive, send)
    assert received == []
    assert sent[0]["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_chunked_body_is_cut_off_at_the_limit(small_app):
    chunk = b" " * 1024
    sent_chunks = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent_chunks
        yield b'{"query": "{ viewer { username } }"'
        for _ in range(5 * 1024):  # 5 MiB, if nobody stops it
            sent_chunks += 1
            yield chunk
        yield b"}"

    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/graphql", content=body(), headers={"content-type": "application/json"}
        )
    assert_refused(response, 413, "PAYLOAD_TOO_LARGE")
    assert sent_chunks <= 11, sent_chunks


async def test_invalid_content_length_is_400(small_app):
    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/graphql",
            content=b'{"query": "{ viewer { username } }"}',
            headers={"content-type": "application/json", "content-length": "ten"},
        )
    assert_refused(response, 400, "BAD_REQUEST")


# --- Outside GraphQL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("PUT", "/graphql", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/reports/export.csv", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/nothing-here", 404, "NOT_FOUND"),
    ],
)
async def test_unknown_paths_and_methods_answer_json_with_a_code(
    client, method, path, status, code
):
    assert_refused(await client.request(method, path), status, code)
