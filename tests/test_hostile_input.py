"""Input an outside review sent that once answered 500: each must be a 4xx or a user error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from schema.relay import to_global_id
from tests.helpers import GraphQLResponse
from tests.test_policy import sid
from tests.test_writes import RECORD_MARK, _teacher_class_and_pupil

Gql = Callable[..., Awaitable[GraphQLResponse]]


@pytest.mark.parametrize("score", ["NaN", "sNaN", "Infinity", "1E-999999", "70.001"])
async def test_a_score_the_database_cannot_hold_is_bad_input(
    gql: Gql, db: asyncpg.Connection, score: str
) -> None:
    # `Decimal` parses these; comparing NaN raises InvalidOperation and asyncpg cannot encode an
    # exponent below PostgreSQL's numeric range: both came back as HTTP 500.
    klass, pupil = await _teacher_class_and_pupil(db)
    variables = {
        "input": {"studentId": sid(pupil), "classId": to_global_id("Class", klass), "score": score}
    }
    response = await gql(RECORD_MARK, as_user="teacher", variables=variables)
    assert response.status < 500, response.body
    codes = [e.get("extensions", {}).get("code") for e in response.errors]
    if response.data and response.data.get("recordMark"):
        codes += [e["code"] for e in response.data["recordMark"]["userErrors"]]
    assert codes, response.body
    assert "INTERNAL_SERVER_ERROR" not in codes, response.body


async def test_a_grant_purpose_has_a_length_limit(gql: Gql, db: asyncpg.Connection) -> None:
    # A 900 kB purpose was stored, and would be copied into every disclosure the grant covers.
    from tests.test_policy import GRANT, _school_a, _user_id, grant_input

    pupil = await db.fetchval(
        "SELECT id FROM student WHERE school_id = $1 ORDER BY id LIMIT 1", await _school_a(db)
    )
    variables = grant_input(await _user_id(db, "designee"), pupil, purpose="x" * 1001)
    payload = (await gql(GRANT, as_user="coordinator", variables=variables)).ok()
    assert [e["code"] for e in payload["grantLegitimateInterest"]["userErrors"]] == [
        "PURPOSE_TOO_LONG"
    ]


@pytest.mark.parametrize("digits", ["\u0661\u0662", "\uff11\uff12"])
async def test_ids_are_spelled_with_ascii_digits_only(gql: Gql, digits: str) -> None:
    import base64

    odd = base64.urlsafe_b64encode(f"Student:{digits}".encode()).decode()
    response = await gql(
        "query ($id: ID!) { student(id: $id) { id } }", as_user="admin", variables={"id": odd}
    )
    assert response.errors[0]["extensions"]["code"] == "BAD_USER_INPUT", response.body
