"""Query analysis and limits: fragments measured once, cycles, depth and aliases through
fragments, the cost limit, and the statement timeout, over the real HTTP layer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import (
    GraphQLError,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
    is_object_type,
    parse,
)

from app.asgi import create_app
from app.config import get_settings
from bench.scenarios import CHILD_VIEW, SCENARIOS
from schema import create_schema
from schema.analysis import FRAGMENTS_MEASURED, Limits, _validate_cached, analyse
from schema.cost import LIST_WEIGHTS, holds_no_row
from schema.errors import QUERY_TIMEOUT_MESSAGE
from tests.test_http import LEAKS

SETTINGS = get_settings()
GRAPHQL_SCHEMA = create_schema()._schema

# Finding 8 of issue 10: 15.8 MB in 10.6 s as admin.
ROSTERS_OF_EVERY_CLASS = """
{ students(first: 1000) { edges { node { id classes {
    students(first: 1000) { edges { node { id firstName } } }
} } } } }
"""


def _fragment_bomb(levels: int) -> str:
    """Finding 1: each fragment spreads the next ten times; written out, 10^(levels-1) fields."""
    fragments = [
        f"fragment F{i} on Student {{ {' '.join([f'...F{i + 1}'] * 10)} }}"
        for i in range(levels - 1)
    ]
    fragments.append(f"fragment F{levels - 1} on Student {{ firstName }}")
    return "query { students(first: 1000) { edges { node { ...F0 } } } }\n" + "\n".join(fragments)


# Refusals before execution are request errors: 400 for a client that reads this media type.
STRICT = {"Accept": "application/graphql-response+json"}


async def _post(client: httpx.AsyncClient, query: str, **body: Any) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, **body}, headers=STRICT)


def _error(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    return dict(errors[0])


# --- Fragments ------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [8, 10])
async def test_fragment_explosion_is_refused_measuring_each_fragment_once(client, levels):
    before = FRAGMENTS_MEASURED.fragments
    response = await _post(client, _fragment_bomb(levels))  # anonymous, as it was found
    assert response.status_code == 400
    assert "data" not in response.json()
    error = _error(response)
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert f"more than {SETTINGS.max_tokens:,} fields" in error["message"]
    # Refused as soon as the fields written out pass the limit, no fragment walked twice.
    assert 0 < FRAGMENTS_MEASURED.fragments - before <= levels


def test_each_fragment_is_measured_once_whatever_it_writes_out_to():
    unlimited = dataclasses.replace(Limits.of(SETTINGS), max_fields=10**12, max_repeats=10**12)
    before = FRAGMENTS_MEASURED.fragments
    measure = analyse(GRAPHQL_SCHEMA, parse(_fragment_bomb(10)), unlimited)
    assert FRAGMENTS_MEASURED.fragments - before == 10
    assert measure.fields == 3 + 10**9  # students, edges, node and the firstNames


async def test_the_server_answers_while_a_fragment_explosion_is_refused(client):
    bombs = [_post(client, _fragment_bomb(10)) for _ in range(4)]
    health = client.get("/healthz")
    *refused, healthy = await asyncio.gather(*bombs, health)
    assert [r.status_code for r in refused] == [400] * 4
    assert healthy.status_code == 200


async def test_a_fragment_cycle_is_refused(client):
    query = """
    { viewer { ...A } }
    fragment A on Viewer { student { id } ...B }
    fragment B on Viewer { username ...C }
    fragment C on Viewer { ...A }
    """
    response = await _post(client, query)
    assert response.status_code == 400
    error = _error(response)
    assert error["extensions"]["code"] == "FRAGMENT_CYCLE"
    assert "A → B → C → A" in error["message"]


def test_a_long_chain_of_fragments_is_measured_without_recursion():
    # Four hundred fragments, each spreading the next: deeper than a naive walk's stack allows.
    chain = [f"fragment C{i} on Viewer {{ ...C{i + 1} }}" for i in range(400)]
    query = "{ viewer { ...C0 } }\n" + "\n".join(chain) + "\nfragment C400 on Viewer { username }"
    measure = analyse(GRAPHQL_SCHEMA, parse(query), Limits.of(SETTINGS))
    assert measure.fields == 2


async def test_many_fields_of_one_name_are_refused_before_validation(client, token_for):
    # graphql-core compares same-named fields pair by pair (0.75 s for 500 of them).
    query = "{ viewer { " + "student { id } " * 21 + "} }"
    token = await token_for("student")
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}", **STRICT}
    )
    assert response.status_code == 400
    error = _error(response)
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert "'student' is selected 21 times" in error["message"]


# --- Depth and aliases through fragments ----------------------------------------------------


def _deep_through_fragments(depth: int) -> str:
    """tests.test_http's deep query (deepest field `depth` levels below the root), with what
    every `node` selects moved into a fragment of its own."""
    hop = ["classes", "students(first: 1)", "edges", "node"]
    fields = ["students(first: 1)", "edges", "node"]
    while len(fields) < depth:
        fields.append(hop[(len(fields) - 3) % 4])
    last = fields[-1].split("(")[0]
    body = {"node": "id", "edges": "cursor", "students": "totalCount", "classes": "title"}[last]
    fragments = []
    for level in reversed(range(len(fields))):
        if fields[level] == "node":
            fragments.append(f"fragment P{level} on Student {{ {body} }}")
            body = f"...P{level}"
        body = f"{fields[level]} {{ {body} }}"
    return "{ " + body + " }\n" + "\n".join(fragments)


async def test_depth_counts_through_fragments(client, token_for):
    headers = {"Authorization": f"Bearer {await token_for('admin')}", **STRICT}
    within = await client.post(
        "/graphql", json={"query": _deep_through_fragments(SETTINGS.max_depth)}, headers=headers
    )
    assert within.status_code == 200, within.json()
    too_deep = await client.post(
        "/graphql",
        json={"query": _deep_through_fragments(SETTINGS.max_depth + 1)},
        headers=headers,
    )
    assert too_deep.status_code == 400
    error = _error(too_deep)
    assert error["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert f"exceeds maximum operation depth of {SETTINGS.max_depth}" in error["message"]


async def test_aliases_count_through_fragments(client, token_for):
    headers = {"Authorization": f"Bearer {await token_for('admin')}", **STRICT}
    half = SETTINGS.max_aliases // 2 + 1  # spread twice: one more than allowed at most
    fragment = "fragment N on Viewer { " + " ".join(f"a{i}: username" for i in range(half)) + " }"
    query = "{ one: viewer { ...N } two: viewer { ...N } }\n" + fragment
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 400
    error = _error(response)
    aliases = 2 * half + 2
    assert error["extensions"] == {
        "code": "TOO_MANY_ALIASES",
        "aliases": aliases,
        "limit": SETTINGS.max_aliases,
    }
    assert f"{aliases} aliases found. Allowed: {SETTINGS.max_aliases}" in error["message"]


# --- Cost -----------------------------------------------------------------------------------


async def test_a_query_over_the_cost_limit_is_refused_naming_cost_and_limit(gql, db):
    disclosed = await db.fetchval("SELECT count(*) FROM disclosure")
    response = await gql(ROSTERS_OF_EVERY_CLASS, as_user="admin")
    # Refused before execution: a request error, 200 with `application/json`, and no `data`.
    assert response.status == 200
    assert "data" not in response.body
    [error] = response.errors
    cost, limit = error["extensions"]["cost"], error["extensions"]["limit"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert limit == SETTINGS.max_cost < cost
    # 1,000 students, 8 classes each, 1,000 students of each class.
    assert cost == 1000 * (1 + 8 * (1 + 1000))
    assert f"{cost:,}" in error["message"] and f"{limit:,}" in error["message"]
    # Refused before any resolver ran: nothing read, nothing recorded.
    assert response.statements == 0
    assert await db.fetchval("SELECT count(*) FROM disclosure") == disclosed


async def test_cost_reads_page_sizes_from_variables(gql):
    query = """
    query Rosters($outer: Int, $inner: Int = 1000) {
      students(first: $outer) { edges { node { classes {
        students(first: $inner) { edges { node { id } } }
      } } } }
    }
    """
    refused = await gql(query, as_user="admin", variables={"outer": 1000})
    assert refused.errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert refused.errors[0]["extensions"]["cost"] == 1000 * (1 + 8 * (1 + 1000))
    # The same document with small pages passes; an omitted `first` counts its default (50).
    assert (await gql(query, as_user="admin", variables={"outer": 5, "inner": 5})).ok()
    omitted = await gql(query, as_user="admin", variables={"inner": 1000})
    assert omitted.errors[0]["extensions"]["cost"] == 50 * (1 + 8 * (1 + 1000))


@pytest.mark.parametrize(
    "scenario",
    [s for s in SCENARIOS if s.key != "guardian-child"],
    ids=lambda s: s.key,
)
async def test_every_benchmark_screen_is_within_the_cost_limit(gql, scenario):
    assert (await gql(scenario.query, as_user=scenario.user)).ok()


def test_the_guardian_child_view_is_well_within_the_cost_limit():
    measure = analyse(GRAPHQL_SCHEMA, parse(CHILD_VIEW), Limits.of(SETTINGS))
    assert 0 < measure.cost < SETTINGS.max_cost // 100


def test_every_unpaged_list_of_objects_has_a_weight():
    lists = set()
    for type_ in GRAPHQL_SCHEMA.type_map.values():
        if not is_object_type(type_) or type_.name.startswith("__") or holds_no_row(type_.name):
            continue
        for name, field in type_.fields.items():  # type: ignore[attr-defined]
            unpaged = "first" not in field.args
            listed = is_list_type(get_nullable_type(field.type))
            item = get_named_type(field.type)
            if unpaged and listed and is_composite_type(item) and not holds_no_row(item.name):
                lists.add(f"{type_.name}.{name}")
    assert lists == set(LIST_WEIGHTS)


async def test_the_validation_cache_still_hits(gql):
    query = "{ viewer { username roles { role } } }"
    await gql(query, as_user="teacher")
    hits = _validate_cached.cache_info().hits
    assert (await gql(query, as_user="teacher")).ok()
    assert _validate_cached.cache_info().hits == hits + 1


# --- Statement timeout ----------------------------------------------------------------------


@pytest.fixture
async def impatient_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose statements are cancelled after a quarter of a second."""
    settings = dataclasses.replace(SETTINGS, statement_timeout_ms=250)
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
            yield c


async def _as(client: httpx.AsyncClient, token: str, query: str) -> httpx.Response:
    # Bounded: were the timeout not applied, the request would wait for the lock forever.
    return await asyncio.wait_for(
        client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        ),
        timeout=30,
    )


async def test_a_statement_over_the_timeout_answers_query_timeout(
    impatient_client, db: asyncpg.Connection, token_for
):
    token = await token_for("admin")
    # Another transaction holds the table, so reading it waits until the timeout cancels it.
    async with db.transaction():
        await db.execute("LOCK TABLE student IN ACCESS EXCLUSIVE MODE")
        response = await _as(impatient_client, token, "{ students(first: 5) { totalCount } }")
    assert response.status_code == 503
    body = response.json()
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": QUERY_TIMEOUT_MESSAGE,
            "locations": body["errors"][0]["locations"],
            "path": ["students"],
            "extensions": {"code": "QUERY_TIMEOUT"},
        }
    ]
    assert not LEAKS.search(response.text), response.text
    # The server goes on serving once the table is free.
    after = await _as(impatient_client, token, "{ students(first: 5) { totalCount } }")
    assert after.status_code == 200, after.json()


async def test_a_timed_out_request_records_no_disclosure(
    impatient_client, db: asyncpg.Connection, token_for
):
    token = await token_for("admin")
    disclosed = await db.fetchval("SELECT count(*) FROM disclosure")
    query = "{ students(first: 5) { edges { node { email marks { score } } } } }"
    # Emails are read and would be recorded; the marks wait for the lock and time out.
    async with db.transaction():
        await db.execute("LOCK TABLE mark IN ACCESS EXCLUSIVE MODE")
        response = await _as(impatient_client, token, query)
    assert response.status_code == 503
    assert response.json()["data"] is None
    assert {e["extensions"]["code"] for e in response.json()["errors"]} == {"QUERY_TIMEOUT"}
    assert await db.fetchval("SELECT count(*) FROM disclosure") == disclosed
    # Control: unhindered, the same request records what it shows.
    assert (await _as(impatient_client, token, query)).status_code == 200
    assert await db.fetchval("SELECT count(*) FROM disclosure") > disclosed


# --- Production ------------------------------------------------------------------------------


@pytest.fixture
async def production_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A production server: validation is not cached, anonymous callers get no introspection."""
    settings = dataclasses.replace(SETTINGS, environment="production")
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
            yield c


async def test_production_analyses_before_validating_every_time(production_client, token_for):
    refused = await _post(production_client, _fragment_bomb(10))
    assert _error(refused)["extensions"]["code"] == "QUERY_TOO_LARGE"
    introspection = "{ __schema { queryType { name } } }"
    anonymous = await _post(production_client, introspection)
    assert anonymous.status_code == 400
    assert "introspection has been disabled" in anonymous.json()["errors"][0]["message"]
    token = await token_for("admin")
    signed_in = await production_client.post(
        "/graphql", json={"query": introspection}, headers={"Authorization": f"Bearer {token}"}
    )
    assert signed_in.json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}


# Every selection set of a document goes through graphql-core's rules, the one that compares
# same-named fields pair by pair included, whether or not the operation that runs reaches it. An
# outside review held /healthz 9.5 s with ten anonymous 5 kB documents whose big selection sat in
# a fragment no operation used.
_BIG = " viewer { id }" * 200


@pytest.mark.parametrize(
    ("document", "operation", "code"),
    [
        ("query { viewer { id } } fragment U on Query {" + _BIG + " }", None, "unused"),
        (
            "query { ...U } fragment U on Query { viewer { id } }"
            " fragment U on Query {" + _BIG + " }",
            None,
            "duplicate",
        ),
        ("query A { viewer { id } } query B {" + _BIG + " }", "A", "QUERY_TOO_LARGE"),
    ],
    ids=["unused-fragment", "duplicate-fragment", "operation-not-run"],
)
def test_what_the_operation_does_not_reach_is_measured_or_refused_first(
    document: str, operation: str | None, code: str
) -> None:
    with pytest.raises(GraphQLError) as refused:
        analyse(GRAPHQL_SCHEMA, parse(document), Limits.of(SETTINGS), operation_name=operation)
    expected = "QUERY_TOO_LARGE" if code == "QUERY_TOO_LARGE" else "GRAPHQL_VALIDATION_FAILED"
    assert refused.value.extensions["code"] == expected
    if code != "QUERY_TOO_LARGE":
        assert ("never used" if code == "unused" else "only one fragment") in refused.value.message


async def test_an_unused_fragment_is_refused_over_http(client):
    response = await _post(client, "query { viewer { id } } fragment U on Query {" + _BIG + " }")
    error = _error(response)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "never used" in error["message"]
