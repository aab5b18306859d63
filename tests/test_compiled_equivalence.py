"""Compiled execution answers exactly as the resolvers do (docs/execution.md, "Proof").

Hypothesis draws random read documents over the whole schema (`tests.documents`: nested
selections, arguments with ids of the demo data and cursors of earlier pages, aliases, fragments,
variables, `@include`/`@skip`, `__typename`) and sends each as a demo account to two applications
over the same database: one with compiled execution on, one with it off (the reference). The two
responses and the disclosure rows the two requests wrote must be the same (`tests.equivalence`),
documents refused by validation or the limits included.

`COMPILED_EXAMPLES` (default 2000) sets the examples per run; the run is random unless
`COMPILED_SEED` fixes it. At the end it prints how many examples reached which root field, as
which account, and how many were answered with data or refused.

Where an error nulls a non-null field, graphql-core cancels the field's siblings; how far they
got (the fields they withheld, hence the FORBIDDEN errors, and the disclosures) depends on timing,
so the reference can answer one document two ways. When the two paths differ, both are asked
again: if either disagrees with itself, or the two now agree, the example is counted
("timing-dependent") and not compared; a difference that stays fails the test.

Fields whose answer is the record of earlier requests (`DRIFTING`) are left out: the compiled
request writes to the record before the reference reads it, so they differ between any two
requests, on either path.
"""

from __future__ import annotations

import base64
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, Undefined, get_named_type
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from app.auth import issue_token
from app.config import get_settings
from app.database import asyncpg_dsn
from schema import create_schema
from tests.documents import ACCOUNTS, Case, DocumentWriter, Pools
from tests.equivalence import Observed, differences, disclosure_rows
from tests.helpers import compiled_and_reference

EXAMPLES = int(os.environ.get("COMPILED_EXAMPLES", "2000"))
SEED = os.environ.get("COMPILED_SEED")
# Times both paths are asked again when they differ, to tell a timing-dependent answer from a
# compiled path that is wrong.
REPEATS = 4


def _gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode()


SCHEMA = create_schema()._schema
CASES = st.composite(DocumentWriter(SCHEMA, max_depth=get_settings().max_depth - 1).case)()


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def paths(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(compiled, reference): two applications over the one test database."""
    async with compiled_and_reference(database_url) as pair:
        yield pair


class Tokens(dict[str, str | None]):
    """Bearer tokens by account; printed short with a failing example."""

    def __repr__(self) -> str:
        return f"Tokens({', '.join(self)})"


@pytest.fixture(scope="module")
async def tokens(admin_database_url: str) -> Tokens:
    db = await asyncpg.connect(asyncpg_dsn(admin_database_url))
    try:
        rows = await db.fetch(
            "SELECT username, id FROM app_user WHERE username = ANY($1)", ACCOUNTS
        )
    finally:
        await db.close()
    found = {r["username"]: issue_token(r["id"], get_settings()) for r in rows}
    return Tokens({account: found.get(account) for account in ACCOUNTS})


async def _post(
    client: httpx.AsyncClient,
    token: str | None,
    document: str,
    variables: dict[str, Any],
    operation_name: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload: dict[str, Any] = {"query": document, "variables": variables}
    if operation_name:
        payload["operationName"] = operation_name
    return await client.post("/graphql", json=payload, headers=headers)


def _connection_roots() -> list[tuple[str, str | None]]:
    """(root, nested): every connection with `after` at the root, and one level below a root
    connection's nodes, so that cursors of both kinds are in the pool."""
    query = SCHEMA.query_type
    assert query is not None
    found: list[tuple[str, str | None]] = []

    def paged(f: Any) -> bool:
        target = get_named_type(f.type)
        return (
            "after" in f.args
            and isinstance(target, GraphQLObjectType)
            and ("pageInfo" in target.fields and "edges" in target.fields)
        )

    for name, f in sorted(query.fields.items()):
        if not paged(f) or any(
            isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined
            for a in f.args.values()
        ):
            continue
        found.append((name, None))
        edge = get_named_type(get_named_type(f.type).fields["edges"].type)  # type: ignore[union-attr]
        node = get_named_type(edge.fields["node"].type)  # type: ignore[union-attr]
        if isinstance(node, GraphQLObjectType):
            found += [(name, nested) for nested, g in sorted(node.fields.items()) if paged(g)]
    return found


@pytest.fixture(scope="module")
async def pools(
    admin_database_url: str,
    paths: tuple[httpx.AsyncClient, httpx.AsyncClient],
    tokens: Tokens,
) -> Pools:
    """Ids of the demo data around the accounts (and one that does not exist, one malformed),
    and each account's cursors of the connections' first pages."""
    db = await asyncpg.connect(asyncpg_dsn(admin_database_url))
    try:
        pks = lambda rows: [r[0] for r in rows]  # noqa: E731
        students = pks(
            await db.fetch(
                """
                (SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id
                 WHERE u.username = 'student')
                UNION (SELECT gl.student_id FROM guardian_link gl JOIN app_user u
                       ON u.id = gl.guardian_user_id WHERE u.username = 'guardian')
                UNION (SELECT e.student_id FROM enrollment e JOIN teaching_assignment ta
                       ON ta.class_id = e.class_id JOIN app_user u ON u.id = ta.staff_user_id
                       WHERE u.username = 'teacher' ORDER BY 1 LIMIT 6)
                UNION (SELECT DISTINCT ON (school_id) id FROM student ORDER BY school_id, id)
                UNION (SELECT id FROM student WHERE directory_opt_out ORDER BY id LIMIT 2)
                """
            )
        )
        classes = pks(
            await db.fetch(
                """
                (SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u
                 ON u.id = ta.staff_user_id WHERE u.username = 'teacher')
                UNION (SELECT e.class_id FROM enrollment e JOIN student s ON s.id = e.student_id
                       JOIN app_user u ON u.id = s.user_id WHERE u.username = 'student')
                UNION (SELECT DISTINCT ON (school_id) id FROM class_section
                       ORDER BY school_id, id)
                """
            )
        )
        schools = pks(await db.fetch("SELECT id FROM school ORDER BY id"))
        guardians = pks(
            await db.fetch("SELECT DISTINCT guardian_user_id FROM guardian_link ORDER BY 1 LIMIT 3")
        )
        staff = pks(
            await db.fetch(
                "SELECT id FROM app_user WHERE username = ANY($1) ORDER BY id",
                [a for a in ACCOUNTS if a not in ("guardian", "student", "anonymous")],
            )
        )
    finally:
        await db.close()
    missing = 10_000_000
    ids = {
        "students": [_gid("Student", pk) for pk in [*students, missing]],
        "classes": [_gid("Class", pk) for pk in [*classes, missing]],
        "schools": [_gid("School", pk) for pk in [*schools, missing]],
        "users": [_gid("StaffMember", pk) for pk in staff]
        + [_gid("Guardian", pk) for pk in guardians],
    }
    ids["any"] = [v for pool in ids.values() for v in pool[:4]] + ["not-an-id"]

    # Cursors of the connections' first pages, as each account gets them (from the reference).
    reference = paths[1]
    cursors: dict[str, list[str]] = {}
    for account, token in tokens.items():
        found = ["not-a-cursor"]
        for root, nested in _connection_roots():
            inner = "pageInfo { endCursor }"
            if nested:
                inner = f"edges {{ node {{ {nested}(first: 2) {{ {inner} }} }} }}"
                document = f"{{ {root}(first: 1) {{ {inner} }} }}"
            else:
                document = f"{{ {root}(first: 2) {{ {inner} }} }}"
            body = (await _post(reference, token, document, {})).json()
            found += sorted(_end_cursors(body.get("data")))
        cursors[account] = found
    return Pools(ids, cursors)


def _end_cursors(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "endCursor" and isinstance(inner, str):
                yield inner
            else:
                yield from _end_cursors(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _end_cursors(inner)


# Examples per root field, per account and per outcome (printed at the end of the run).
TALLY: dict[str, Counter[str]] = {"root": Counter(), "account": Counter(), "outcome": Counter()}
STARTED: list[float] = []


@pytest.fixture(scope="module", autouse=True)
def report_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the run's summary past pytest's output capture."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not TALLY["account"]:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        total = sum(TALLY["account"].values())
        seconds = time.monotonic() - STARTED[0] if STARTED else 0.0
        reporter.write_line(f"compiled equivalence: {total} examples in {seconds:.0f} s")
        for kind, tally in TALLY.items():
            figures = ", ".join(f"{k} {n}" for k, n in tally.most_common())
            reporter.write_line(f"compiled equivalence by {kind}: {figures}")


# --- the property ---------------------------------------------------------------------------------


def _outcome(observed: Observed) -> str:
    if observed.status != 200 or "data" not in observed.body:
        codes = {(e.get("extensions") or {}).get("code") for e in observed.body.get("errors", [])}
        return f"refused {observed.status} {'/'.join(sorted(str(c) for c in codes))}"
    if observed.body.get("errors"):
        return "data with errors"
    return "data"


def _settings() -> Any:
    return settings(
        max_examples=EXAMPLES,
        derandomize=False,
        database=None,
        deadline=None,
        # A failure is shrunk to a small document; the explain phase would only add minutes.
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def _seeded(test: Any) -> Any:
    return seed(int(SEED))(test) if SEED else test


@_seeded
@_settings()
@given(case=CASES)
async def test_compiled_answers_as_the_resolvers_do(
    case: Case,
    paths: tuple[httpx.AsyncClient, httpx.AsyncClient],
    pools: Pools,
    tokens: Tokens,
    db: asyncpg.Connection,
) -> None:
    if not STARTED:
        STARTED.append(time.monotonic())
    document = pools.document(case)
    variables = pools.resolve(case.variables, case.account)
    token = tokens[case.account]
    send = lambda client: _observe(client, db, token, document, variables, case.operation_name)  # noqa: E731
    compiled, reference = await send(paths[0]), await send(paths[1])
    TALLY["account"][case.account] += 1
    TALLY["outcome"][_outcome(reference)] += 1
    for root in case.roots:
        TALLY["root"][root] += 1
    found = differences(compiled, reference)
    if found:
        # The reference itself answers some documents in more than one way (see the module's
        # docstring): such a document proves nothing either way, and is counted, not failed.
        for _ in range(REPEATS):
            again = await send(paths[0]), await send(paths[1])
            if (
                differences(again[0], compiled)
                or differences(again[1], reference)
                or not differences(*again)
            ):
                TALLY["outcome"]["timing-dependent (not compared)"] += 1
                return
    assert not found, "\n".join([document, repr(variables), *found])


async def _observe(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    token: str | None,
    document: str,
    variables: dict[str, Any],
    operation_name: str | None,
) -> Observed:
    response = await _post(client, token, document, variables, operation_name)
    body = response.json()
    request_id = (body.get("extensions") or {}).get("requestId")
    return Observed(response.status_code, body, await disclosure_rows(db, request_id))


# --- the harness can fail -------------------------------------------------------------------------


def _pair() -> tuple[Observed, Observed]:
    body = {
        "data": {"students": {"edges": [{"node": {"email": None}}]}},
        "errors": [
            {
                "message": "Not authorized to read students.edges.*.node.email (contact)",
                "path": ["students", "edges", 0, "node", "email"],
                "extensions": {"code": "FORBIDDEN", "count": 1, "requestId": "r1"},
            }
        ],
        "extensions": {"requestId": "r1", "sqlStatements": 3},
    }
    row = {"student_id": 7, "basis": "teacher_of", "field_classes": ["directory"]}
    return Observed(200, body, [dict(row)]), Observed(200, body, [dict(row)])


def test_the_comparator_ignores_only_what_is_the_requests_own() -> None:
    a, b = _pair()
    b.body = {
        **b.body,
        "errors": [
            {
                **b.body["errors"][0],
                "extensions": {"code": "FORBIDDEN", "count": 1, "requestId": "r2"},
            }
        ],
        "extensions": {"requestId": "r2", "sqlStatements": 1},
    }
    assert differences(a, b) == []


def test_the_comparator_reports_one_error_count() -> None:
    a, b = _pair()
    error = b.body["errors"][0]
    b.body = {**b.body, "errors": [{**error, "extensions": {**error["extensions"], "count": 2}}]}
    assert differences(a, b) == [".errors[0].extensions.count: 1 != 2"]


def test_the_comparator_reports_one_disclosure_row() -> None:
    a, b = _pair()
    b.disclosures[0]["field_classes"] = ["directory", "contact"]
    (found,) = differences(a, b)
    assert found.startswith("disclosure rows: 1 != 1;") and "contact" in found


def test_the_comparator_reports_key_order_and_status() -> None:
    a, b = _pair()
    b.status = 400
    b.body = {"errors": b.body["errors"], "data": b.body["data"], "extensions": {}}
    assert differences(a, b) == [
        "status: 200 != 400",
        ".: keys ['data', 'errors', 'extensions'] != ['errors', 'data', 'extensions']",
    ]
