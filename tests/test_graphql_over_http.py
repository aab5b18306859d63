"""GraphQL over HTTP to the letter (docs/errors.md, "The status rule"): the media type follows
`Accept`, a request error is 400 without `data` for `application/graphql-response+json` and 200
without `data` for `application/json`, a field error is 200 whatever the field's nullability,
refusals keep their 4xx in the accepted media type, and every error carries a code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import GraphQLError

from app.media_types import GRAPHQL_RESPONSE_JSON, JSON, negotiate
from schema.errors import MASKED_MESSAGE, give_codes, masked

BOTH = pytest.mark.parametrize("media_type", [GRAPHQL_RESPONSE_JSON, JSON])


async def _post(
    client: httpx.AsyncClient, body: Any, *, accept: str, token: str | None = None
) -> httpx.Response:
    headers = {"accept": accept}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json=body, headers=headers)


def _media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


# --- Which media type -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, */*", JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, */*;q=0.1", GRAPHQL_RESPONSE_JSON),
        ("text/html, application/xhtml+xml, */*;q=0.8", JSON),
        ("text/plain", None),
        ("application/json;q=0", None),
        ("application/xml, text/*", None),
    ],
)
def test_the_media_type_is_the_one_the_client_prefers(accept, expected):
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.1, application/json", JSON),
        ("*/*", JSON),
    ],
)
async def test_answers_are_sent_as_the_negotiated_type(client, accept, expected):
    response = await _post(client, {"query": "{ __typename }"}, accept=accept)
    assert response.status_code == 200
    assert _media_type(response) == expected
    assert response.json()["data"] == {"__typename": "Query"}


async def test_a_client_that_reads_neither_json_type_gets_406(client):
    response = await _post(client, {"query": "{ __typename }"}, accept="text/plain")
    assert response.status_code == 406
    assert _media_type(response) == JSON
    assert _codes(response) == ["NOT_ACCEPTABLE"]
    assert "data" not in response.json()


# --- Request errors: nothing ran ------------------------------------------------------------

REQUEST_ERRORS = {
    "parse": ({"query": "{ viewer { username "}, "GRAPHQL_PARSE_FAILED"),
    "validation": ({"query": "{ viewer { shoeSize } }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variable type": (
        {
            "query": "query ($id: ID!) { student(id: $id) { firstName } }",
            "variables": {"id": None},
        },
        "BAD_USER_INPUT",
    ),
    "several operations": (
        {"query": "query A { __typename } query B { __typename }"},
        "OPERATION_RESOLUTION_FAILURE",
    ),
    "unknown operation": (
        {"query": "query A { __typename }", "operationName": "B"},
        "OPERATION_RESOLUTION_FAILURE",
    ),
}


@BOTH
@pytest.mark.parametrize("case", list(REQUEST_ERRORS))
async def test_a_request_error_has_no_data_and_its_status_follows_the_media_type(
    client, token_for, media_type, case
):
    body, code = REQUEST_ERRORS[case]
    response = await _post(client, body, accept=media_type, token=await token_for("teacher"))
    assert response.status_code == (400 if media_type == GRAPHQL_RESPONSE_JSON else 200)
    assert _media_type(response) == media_type
    answer = response.json()
    assert "data" not in answer, answer
    assert _codes(response) == [code]
    assert answer["extensions"]["requestId"]


# --- Field errors: execution began ----------------------------------------------------------


@BOTH
async def test_the_same_field_error_is_200_whatever_the_fields_nullability(
    client, token_for, media_type
):
    token = await token_for("admin")
    # `students` is non-null: its refusal nulls the whole `data`.
    list_field = await _post(
        client,
        {"query": '{ students(after: "%%%") { totalCount } }'},
        accept=media_type,
        token=token,
    )
    # `student` is nullable: its refusal nulls that field only.
    nullable = await _post(
        client, {"query": '{ student(id: "%%%") { id } }'}, accept=media_type, token=token
    )
    for response, data in ((list_field, None), (nullable, {"student": None})):
        assert response.status_code == 200, response.text
        assert _media_type(response) == media_type
        assert response.json()["data"] == data
        assert _codes(response) == ["BAD_USER_INPUT"]
        assert response.json()["errors"][0]["path"]


@BOTH
async def test_signing_in_needed_is_a_field_error(client, media_type):
    response = await _post(
        client, {"query": "{ students(first: 1) { totalCount } }"}, accept=media_type
    )
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert _codes(response) == ["UNAUTHENTICATED"]


# --- Refusals of the HTTP request keep their status, in the accepted type -------------------


@BOTH
async def test_a_rejected_token_is_401_in_the_accepted_type(client, media_type):
    response = await _post(
        client, {"query": "{ viewer { username } }"}, accept=media_type, token="not-a-token"
    )
    assert response.status_code == 401
    assert _media_type(response) == media_type
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert _codes(response) == ["UNAUTHENTICATED"]
    assert "data" not in response.json()


@BOTH
async def test_a_rejected_token_on_a_plain_endpoint_is_401_in_the_accepted_type(client, media_type):
    response = await client.get(
        "/reports/export.csv",
        headers={"accept": media_type, "authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 401
    assert _media_type(response) == media_type
    assert _codes(response) == ["UNAUTHENTICATED"]


REFUSALS: dict[str, tuple[str, str, dict[str, str], bytes | None, int, str]] = {
    # name: method, path, headers, body, status, code
    "no query": ("POST", "/graphql", {"content-type": JSON}, b"{}", 400, "BAD_REQUEST"),
    "not JSON": ("POST", "/graphql", {"content-type": JSON}, b'{"query', 400, "BAD_REQUEST"),
    "batch": (
        "POST",
        "/graphql",
        {"content-type": JSON},
        b'[{"query": "{ __typename }"}]',
        400,
        "BAD_REQUEST",
    ),
    "query not a string": (
        "POST",
        "/graphql",
        {"content-type": JSON},
        b'{"query": 1}',
        400,
        "BAD_REQUEST",
    ),
    "no content type": (
        "POST",
        "/graphql",
        {},
        b'{"query": "{ __typename }"}',
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "form body": (
        "POST",
        "/graphql",
        {"content-type": "application/x-www-form-urlencoded"},
        b"query=%7B__typename%7D",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "GET mutation": (
        "GET",
        "/graphql?query=mutation%20%7B%20__typename%20%7D",
        {},
        None,
        405,
        "METHOD_NOT_ALLOWED",
    ),
    "GET without query": ("GET", "/graphql", {}, None, 400, "BAD_REQUEST"),
    "PUT": ("PUT", "/graphql", {"content-type": JSON}, b"{}", 405, "METHOD_NOT_ALLOWED"),
    "unknown path": ("GET", "/nothing-here", {}, None, 404, "NOT_FOUND"),
}


@BOTH
@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refused_request_keeps_its_4xx_and_code_in_the_accepted_type(
    client, media_type, case
):
    method, path, headers, body, status, code = REFUSALS[case]
    response = await client.request(
        method, path, headers={**headers, "accept": media_type}, content=body
    )
    assert response.status_code == status, response.text
    assert _media_type(response) == media_type
    assert _codes(response) == [code]
    assert "data" not in response.json()
    assert response.json()["extensions"]["requestId"]


# --- GraphQL's own errors during execution ---------------------------------------------------


def test_graphqls_complaint_about_a_resolvers_value_is_masked_as_a_failure():
    # What graphql-core raises when a resolver returns null for a non-null field: the server's
    # fault, so masked (a 500), not shown as if the request were wrong.
    error = GraphQLError("Cannot return null for non-nullable field Query.x.", path=["x"])
    give_codes([error])
    shown = masked(error)
    assert (shown.message, shown.extensions) == (MASKED_MESSAGE, {"code": "INTERNAL_SERVER_ERROR"})


def test_an_argument_built_from_variables_and_refused_as_the_field_runs_is_bad_input():
    refused = GraphQLError("Argument 'n' of required type 'Int!' was not provided.")
    error = GraphQLError(refused.message, path=["x"], original_error=refused)
    give_codes([error])
    assert masked(error) is error
    assert error.extensions == {"code": "BAD_USER_INPUT"}
