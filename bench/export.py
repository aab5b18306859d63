"""`scripts/bench --export`: build the inspection bundle of a district's largest student.

    scripts/bench --export --students 100000 --disclosures 50000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/sg_bench_export

The database named by `--database-url` (a superuser's URL; default `DATABASE_URL`) is created,
migrated and seeded with `--students` students when it holds none, and reused after that. The
largest student is the one with the most marks, portfolio items, enrollments and disclosures
together. What completing an INSPECT request does for them (app/rights/inspect.py: collect,
JSON, CSV, HTML, zip, encrypt, store) is timed in a transaction that is rolled back, so the
database is left as it was:

1. as seeded (a fresh seed has few disclosures);
2. after `--disclosures` rows are added to the student's record of disclosures, in the same
   transaction, by one `INSERT ... SELECT generate_series(...)` (viewers drawn from the
   district's staff, field classes and bases as the server writes them); rolled back with the
   rest.

Printed per case: the rows, the build's wall time (best of `--repeat`), SQL statements, the zip's
size and the size of `record.json` inside it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import migrate
from app.database import asyncpg_dsn, create_engine, start_counting, with_database
from app.encryption import decrypt_row
from app.rights import inspect
from app.seed import seed
from app.writes import Actor

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/sg_bench_export"

_LARGEST = """
SELECT * FROM (
  SELECT s.id, s.district_id,
         (SELECT count(*) FROM mark m WHERE m.student_id = s.id) AS marks,
         (SELECT count(*) FROM portfolio_item i WHERE i.student_id = s.id) AS items,
         (SELECT count(*) FROM enrollment e WHERE e.student_id = s.id) AS enrollments,
         (SELECT count(*) FROM disclosure d WHERE d.student_id = s.id) AS disclosures
  FROM student s
) counted ORDER BY marks + items + enrollments + disclosures DESC, id LIMIT 1
"""

# Rows as the server writes them: a staff viewer, a basis, sorted field classes, one request id
# per row; no MAC (the rows never commit).
_MORE_DISCLOSURES = """
WITH staff AS (
  SELECT array_agg(ra.user_id ORDER BY ra.user_id) AS ids FROM role_assignment ra
  WHERE ra.district_id = :district_id AND ra.role IN ('teacher', 'coordinator', 'school_admin')
)
INSERT INTO disclosure (district_id, student_id, viewer_user_id, basis, field_classes,
                        request_id, disclosed_at)
SELECT :district_id, :student_id, staff.ids[1 + n % array_length(staff.ids, 1)],
       (ARRAY['teacher_of', 'school_official', 'legitimate_interest'])[1 + n % 3],
       CASE n % 3 WHEN 0 THEN ARRAY['academic', 'contact']
                  WHEN 1 THEN ARRAY['contact', 'demographic'] ELSE ARRAY['contact'] END,
       md5(n::text), now() - n * interval '1 minute'
FROM staff, generate_series(1, :n) AS n
"""


@dataclass
class Measure:
    case: str
    disclosures: int
    marks: int
    items: int
    seconds: float
    statements: int
    zip_bytes: int
    json_bytes: int


async def _prepare(url: str, students: int) -> None:
    """Create, migrate and seed the database when it holds no students."""
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            quoted = await admin.fetchval("SELECT quote_ident($1)", name)
            await admin.execute(f"CREATE DATABASE {quoted}")
    finally:
        await admin.close()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        seeded = await connection.fetchval("SELECT to_regclass('public.student') IS NOT NULL")
        count = await connection.fetchval("SELECT count(*) FROM student") if seeded else 0
    finally:
        await connection.close()
    if count == 0:
        print(f"migrating and seeding {name} with {students:,} students ...", flush=True)
        await asyncio.to_thread(migrate.upgrade, url)
        summary = await seed(url, students=students, progress=False)
        print(f"seeded in {summary.elapsed:.1f} s", flush=True)
    elif count < students:
        sys.exit(f"{name} holds {count:,} students, not {students:,}: name another database")


async def _build(
    connection: AsyncConnection, student: Row[Any], repeat: int
) -> tuple[float, int, bytes]:
    """Best time of `repeat` builds (each rolled back to a savepoint), statements, the zip."""
    best = float("inf")
    statements = 0
    archive = b""
    for _ in range(repeat):
        savepoint = await connection.begin_nested()
        request_id = (
            await connection.execute(
                text(
                    "INSERT INTO data_request (district_id, student_id, requester_user_id, kind,"
                    " status, due_on) SELECT s.district_id, s.id, (SELECT min(id) FROM app_user"
                    " WHERE district_id = s.district_id), 'inspect', 'open', CURRENT_DATE + 45"
                    " FROM student s WHERE s.id = :id RETURNING id"
                ),
                {"id": student.id},
            )
        ).scalar_one()
        request = (
            await connection.execute(
                text("SELECT * FROM data_request WHERE id = :id"), {"id": request_id}
            )
        ).one()
        actor = Actor(request.requester_user_id, request.district_id, "bench-export")
        counter = start_counting()
        started = time.perf_counter()
        export_id = await inspect.build_export(connection, actor, request)
        best = min(best, time.perf_counter() - started)
        statements = counter.statements
        row = (
            await connection.execute(
                text(
                    "SELECT x.*, r.requester_user_id, s.school_id, s.date_of_birth"
                    " FROM data_export x JOIN data_request r ON r.id = x.data_request_id"
                    " JOIN student s ON s.id = x.student_id WHERE x.id = :id"
                ),
                {"id": export_id},
            )
        ).one()
        archive = inspect.content_of(await decrypt_row(connection, "data_export", row))
        await savepoint.rollback()
    return best, statements, archive


async def _run(url: str, students: int, extra: int, repeat: int) -> list[Measure]:
    await _prepare(url, students)
    engine = create_engine(url)
    measures = []
    try:
        async with engine.connect() as connection:
            await connection.begin()
            student = (await connection.execute(text(_LARGEST))).one()
            print(
                f"largest student: id {student.id}, {student.marks} marks, {student.items} items,"
                f" {student.enrollments} enrollments, {student.disclosures} disclosures",
                flush=True,
            )
            cases = (
                [("as seeded", 0), (f"+{extra:,} disclosures", extra)]
                if extra
                else [("as seeded", 0)]
            )
            for case, more in cases:
                if more:
                    await connection.execute(
                        text(_MORE_DISCLOSURES),
                        {"district_id": student.district_id, "student_id": student.id, "n": more},
                    )
                seconds, statements, archive = await _build(connection, student, repeat)
                record = zipfile.ZipFile(io.BytesIO(archive)).getinfo("record.json")
                measures.append(
                    Measure(
                        case,
                        student.disclosures + more,
                        student.marks,
                        student.items,
                        seconds,
                        statements,
                        len(archive),
                        record.file_size,
                    )
                )
            await connection.rollback()
    finally:
        await engine.dispose()
    return measures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --export", description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--disclosures", type=int, default=50_000, help="rows added (0: none)")
    parser.add_argument("--repeat", type=int, default=3, help="builds per case (best is kept)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a superuser's URL")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    measures = asyncio.run(_run(args.database_url, args.students, args.disclosures, args.repeat))
    print(f"\ninspection bundle, {args.students:,}-student district ({started:%Y-%m-%d}):")
    print(
        f"{'case':<24}{'disclosures':>12}{'marks':>7}{'items':>7}{'build s':>9}{'SQL':>5}"
        f"{'zip bytes':>12}{'JSON bytes':>13}"
    )
    for m in measures:
        print(
            f"{m.case:<24}{m.disclosures:>12,}{m.marks:>7}{m.items:>7}{m.seconds:>9.2f}"
            f"{m.statements:>5}{m.zip_bytes:>12,}{m.json_bytes:>13,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
