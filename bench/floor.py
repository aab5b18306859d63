"""The floor: the same data as two SchoolGraph screens, fetched by hand-written SQL with asyncpg.

A tiny Starlette app served by the same uvicorn as SchoolGraph, so the HTTP layer, the JSON
encoding and the bearer-token check are the same; what remains is what GraphQL, the loaders and
the policy add. Each endpoint answers the same request body as its GraphQL twin with the same
`data` (the benchmark compares them before measuring) and counts its statements the same way.

    uvicorn bench.floor:create_app --factory     # DATABASE_URL names the database

It decrypts what is encrypted at rest, as any implementation must (docs/encryption.md). It knows
no policy: it serves exactly the rows the demo `teacher` and `coordinator` may see because its SQL
is written for those two screens, as a hand-optimised endpoint would be.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import auth
from app.config import get_settings
from app.database import asyncpg_dsn, resolve_database_url
from app.encryption import KEYS_SQL, Keyring, MasterKey, data_keys
from schema.cursors import Cursors
from schema.relay import to_global_id

# The teacher's current classes (first 20 by title) and the students enrolled in each today.
_ROSTERS = """
SELECT c.id AS class_id, c.title, c.code,
       s.id, s.first_name, s.last_name, s.preferred_name, s.grade_level, s.email, s.phone
FROM (SELECT id, title, code FROM class_section
      WHERE id IN (SELECT class_id FROM teaching_assignment
                   WHERE staff_user_id = $1 AND starts_on <= CURRENT_DATE
                     AND (ends_on IS NULL OR ends_on >= CURRENT_DATE))
      ORDER BY title, id LIMIT 20) c
LEFT JOIN enrollment e ON e.class_id = c.id
  AND e.begins_on <= CURRENT_DATE AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)
LEFT JOIN student s ON s.id = e.student_id
ORDER BY c.title, c.id, s.last_name, s.first_name, s.id
"""
_MARKS = """
SELECT id, student_id, score, letter, comment FROM mark
WHERE student_id = ANY($1::bigint[]) AND class_id = ANY($2::bigint[])
ORDER BY student_id, term_id, class_id, id
"""

# A page of the students at the coordinator's schools, by name, keyset after a sort key (the
# cursors are SchoolGraph's own, sealed and opened the same way).
_DIRECTORY = """
SELECT s.id, s.first_name, s.last_name, s.preferred_name, s.grade_level
FROM student s JOIN app_user u ON u.id = $1
WHERE s.district_id = u.district_id
  AND s.school_id IN (SELECT school_id FROM role_assignment
                      WHERE user_id = $1 AND role = 'coordinator')
  {after}
ORDER BY s.last_name, s.first_name, s.id
LIMIT $2
"""
_DIRECTORY_FIRST = _DIRECTORY.format(after="")
_DIRECTORY_AFTER = _DIRECTORY.format(after="AND (s.last_name, s.first_name, s.id) > ($3, $4, $5)")
PAGE = 1000


def _display_name(row: asyncpg.Record) -> str:
    return f"{row['preferred_name'] or row['first_name']} {row['last_name'][:1]}."


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


async def teacher_dashboard(
    pool: asyncpg.Pool, ring: Keyring, user_id: int, _: dict[str, Any]
) -> Any:
    async with pool.acquire() as connection:
        rows = await connection.fetch(_ROSTERS, user_id)
        class_ids = list(dict.fromkeys(r["class_id"] for r in rows))
        student_ids = list({r["id"] for r in rows if r["id"] is not None})
        marks: dict[int, list[dict[str, Any]]] = {}
        for m in await connection.fetch(_MARKS, student_ids, class_ids):
            marks.setdefault(m["student_id"], []).append(
                {
                    "id": to_global_id("Mark", m["id"]),
                    "score": _decimal(m["score"]),
                    "letter": m["letter"],
                    "comment": ring.decrypt("mark", "comment", m["id"], m["comment"]),
                }
            )
    classes: dict[int, dict[str, Any]] = {}
    for r in rows:
        klass = classes.get(r["class_id"])
        if klass is None:
            klass = classes[r["class_id"]] = {
                "id": to_global_id("Class", r["class_id"]),
                "title": r["title"],
                "code": r["code"],
                "students": {"edges": []},
            }
        if r["id"] is not None:
            node = {
                "id": to_global_id("Student", r["id"]),
                "firstName": r["first_name"],
                "lastName": r["last_name"],
                "displayName": _display_name(r),
                "gradeLevel": r["grade_level"],
                "email": ring.decrypt("student", "email", r["id"], r["email"]),
                "phone": ring.decrypt("student", "phone", r["id"], r["phone"]),
                "marks": marks.get(r["id"], []),
            }
            klass["students"]["edges"].append({"node": node})
    return {"classes": {"edges": [{"node": c} for c in classes.values()]}}, 2


async def coordinator_paging(
    pool: asyncpg.Pool, _ring: Keyring, user_id: int, variables: dict[str, Any]
) -> Any:
    cursors = Cursors(get_settings().jwt_secret, "students", "NAME", user_id)
    after = cursors.open(variables.get("after"), 3)
    async with pool.acquire() as connection:
        if after is None:
            rows = await connection.fetch(_DIRECTORY_FIRST, user_id, PAGE + 1)
        else:
            rows = await connection.fetch(_DIRECTORY_AFTER, user_id, PAGE + 1, *after)
    edges = [
        {
            "cursor": cursors.seal((r["last_name"], r["first_name"], r["id"])),
            "node": {
                "id": to_global_id("Student", r["id"]),
                "firstName": r["first_name"],
                "lastName": r["last_name"],
                "displayName": _display_name(r),
                "gradeLevel": r["grade_level"],
            },
        }
        for r in rows[:PAGE]
    ]
    page_info = {
        "hasNextPage": len(rows) > PAGE,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    return {"students": {"edges": edges, "pageInfo": page_info}}, 1


def create_app() -> Starlette:
    settings = get_settings()
    url = resolve_database_url(settings)
    pools: list[asyncpg.Pool] = []
    rings: list[Keyring] = []

    def endpoint(handler: Any) -> Any:
        async def serve(request: Request) -> Response:
            kind, _, token = request.headers.get("authorization", "").partition(" ")
            try:
                subject = auth.verify_token(token.strip(), settings)
            except auth.InvalidToken as exc:
                return JSONResponse({"errors": [{"message": str(exc)}]}, status_code=401)
            if kind.lower() != "bearer" or subject.user_id is None:
                return JSONResponse({"errors": [{"message": "bearer token needed"}]}, 401)
            body = await request.json()
            variables = body.get("variables") or {}
            data, statements = await handler(pools[0], rings[0], subject.user_id, variables)
            return JSONResponse({"data": data, "extensions": {"sqlStatements": statements}})

        return serve

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # As many connections as SchoolGraph's engine may open (pool plus overflow).
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url), min_size=1, max_size=2 * settings.pool_size
        )
        pools.append(pool)
        rings.append(
            Keyring.unwrap(MasterKey.from_settings(), data_keys(await pool.fetch(KEYS_SQL)))
        )
        try:
            yield
        finally:
            await pool.close()

    return Starlette(
        routes=[
            Route("/teacher-dashboard", endpoint(teacher_dashboard), methods=["POST"]),
            Route("/coordinator-paging", endpoint(coordinator_paging), methods=["POST"]),
        ],
        lifespan=lifespan,
    )
