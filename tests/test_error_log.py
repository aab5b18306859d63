"""What errors leave in the log: one structured line per expected error, carrying the request id
the response carries; a traceback only for unexpected ones."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

LOGGER = "schoolgraph.errors"


async def _post(client: httpx.AsyncClient, body: Any, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json=body, headers=headers)


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("schoolgraph", "strawberry", "app"))]


@pytest.mark.parametrize(
    ("as_user", "query", "code"),
    [
        ("teacher", "{ disclosures(first: 1) { totalCount } }", "FORBIDDEN"),
        ("admin", '{ student(id: "not-an-id!") { id } }', "BAD_USER_INPUT"),
        ("admin", "{ viewer { shoeSize } }", "GRAPHQL_VALIDATION_FAILED"),
        ("admin", "{ viewer { ", "GRAPHQL_PARSE_FAILED"),
        (None, "{ students(first: 1) { totalCount } }", "UNAUTHENTICATED"),
    ],
)
async def test_an_expected_error_logs_one_line_with_the_request_id(
    client, token_for, caplog, as_user, query, code
):
    token = await token_for(as_user) if as_user else None
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    response = await _post(client, {"query": query}, token)
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
    request_id = body["extensions"]["requestId"]
    [record] = _records(caplog)
    assert record.name == LOGGER
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    line = record.getMessage()
    assert "\n" not in line
    assert f"code={code}" in line
    assert f"request_id={request_id}" in line
    assert (record.__dict__["code"], record.__dict__["request_id"]) == (code, request_id)


async def test_a_refused_http_request_logs_one_line_with_the_request_id(client, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    request_id = response.json()["extensions"]["requestId"]
    [record] = _records(caplog)
    assert record.exc_info is None
    assert "code=BAD_REQUEST" in record.getMessage()
    assert f"request_id={request_id}" in record.getMessage()


async def test_a_successful_request_logs_no_error(client, token_for, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    response = await _post(
        client, {"query": "{ students(first: 1) { totalCount } }"}, await token_for("admin")
    )
    assert response.status_code == 200
    assert not [r for r in _records(caplog) if r.levelno >= logging.INFO]


# An unexpected error's traceback: tests/test_outages.py (a connection terminated mid-request).
