"""`scripts/bench --roster`: import a generated OneRoster 1.1 roster and report time and memory.

    scripts/bench --roster --students 100000   # ~1,000,000 enrollments

The set is written to a temporary folder (streamed, never held in memory), then imported with
`app.roster.importer.import_roster` into a new, migrated database on the server of
`--database-url` / `DATABASE_URL`. Printed: rows, seconds, and this process's peak RSS, which
must not grow with the size of the files (the importer streams them and COPYs in batches).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import asyncpg

from app import migrate
from app.database import asyncpg_dsn, resolve_database_url, with_database
from app.roster.importer import import_roster

CLASSES_PER_STUDENT = 10
CLASS_SIZE = 25
CLASSES_PER_TEACHER = 5
STUDENTS_PER_SCHOOL = 600


def write_roster(folder: Path, students: int) -> dict[str, int]:
    """A bulk 1.1 set: schools of 600, classes of 25, ten classes a student, a guardian each."""
    year = date.today().year
    schools = max(1, students // STUDENTS_PER_SCHOOL)
    classes = max(1, students * CLASSES_PER_STUDENT // CLASS_SIZE)
    teachers = max(1, classes // CLASSES_PER_TEACHER)
    counts: dict[str, int] = {}

    def write(name: str, header: list[str], rows: object) -> None:
        with (folder / name).open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(header)
            n = 0
            for row in rows:  # type: ignore[attr-defined]
                out.writerow(row)
                n += 1
        counts[name] = n

    (folder / "manifest.csv").write_text(
        "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        + "".join(
            f"file.{f},bulk\n"
            for f in ("orgs", "academicSessions", "classes", "users", "enrollments")
        )
    )
    write(
        "orgs.csv",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "name",
            "type",
            "identifier",
            "parentSourcedId",
        ],
        [("d", "", "", "Bench District", "district", "", "")]
        + [
            (f"s{i}", "", "", f"School {i} High School", "school", f"S{i}", "d")
            for i in range(schools)
        ],
    )
    write(
        "academicSessions.csv",
        ["sourcedId", "status", "dateLastModified", "title", "type", "startDate", "endDate"],
        [("t1", "", "", "Year", "schoolYear", f"{year - 1}-08-01", f"{year + 1}-07-31")],
    )
    write(
        "classes.csv",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "title",
            "grades",
            "courseSourcedId",
            "classCode",
            "classType",
            "location",
            "schoolSourcedId",
            "termSourcedIds",
            "subjects",
            "subjectCodes",
            "periods",
        ],
        (
            (
                f"c{k}",
                "",
                "",
                f"Class {k}",
                "09",
                "",
                f"C{k}",
                "scheduled",
                "",
                f"s{k % schools}",
                "t1",
                "Mathematics",
                "",
                str(k % 8 + 1),
            )
            for k in range(classes)
        ),
    )
    header = [
        "sourcedId",
        "status",
        "dateLastModified",
        "enabledUser",
        "orgSourcedIds",
        "role",
        "username",
        "userIds",
        "givenName",
        "familyName",
        "middleName",
        "identifier",
        "email",
        "sms",
        "phone",
        "agentSourcedIds",
        "grades",
        "password",
    ]

    def users() -> object:
        for t in range(teachers):
            yield (
                f"t{t}",
                "",
                "",
                "true",
                f"s{t % schools}",
                "teacher",
                f"bench.t{t}",
                "",
                "Tea",
                f"Cher{t}",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            )
        for s in range(students):
            yield (
                f"u{s}",
                "",
                "",
                "true",
                f"s{s % schools}",
                "student",
                f"bench.u{s}",
                "",
                "Stu",
                f"Dent{s}",
                "",
                f"N{s}",
                f"u{s}@students.example.org",  # contact details are encrypted at rest
                "",
                f"555-{s:07d}",
                f"g{s}",
                "10",
                "",
            )
            yield (
                f"g{s}",
                "",
                "",
                "true",
                f"s{s % schools}",
                "parent",
                f"bench.g{s}",
                "",
                "Par",
                f"Ent{s}",
                "",
                "",
                f"g{s}@example.org",
                "",
                f"555-{s:07d}",
                "",
                "",
                "",
            )

    write("users.csv", header, users())

    def enrollments() -> object:
        for k in range(classes):
            yield (
                f"et{k}",
                "",
                "",
                f"c{k}",
                f"s{k % schools}",
                f"t{k % teachers}",
                "teacher",
                "true",
                "",
                "",
            )
        for s in range(students):
            school = s % schools
            for j in range(CLASSES_PER_STUDENT):
                # Classes of the student's own school, spread so each holds about 25.
                k = ((s // schools) * CLASSES_PER_STUDENT + j) * schools + school
                yield (
                    f"e{s}.{j}",
                    "",
                    "",
                    f"c{k % classes}",
                    f"s{school}",
                    f"u{s}",
                    "student",
                    "",
                    "",
                    "",
                )

    write(
        "enrollments.csv",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
            "primary",
            "beginDate",
            "endDate",
        ],
        enrollments(),
    )
    return counts


async def _fresh_database(base: str) -> str:
    name = f"sg_bench_roster_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(base, "postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(base, name)


async def _drop(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --roster", description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--database-url", help="PostgreSQL server (default: DATABASE_URL)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    base = args.database_url or resolve_database_url()
    with tempfile.TemporaryDirectory(prefix="roster-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        counts = write_roster(folder, args.students)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"generated {counts} ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
        url = asyncio.run(_fresh_database(base))
        try:
            migrate.upgrade(url)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            report = asyncio.run(import_roster(url, folder))
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        finally:
            if not args.keep:
                asyncio.run(_drop(url))
    totals = report.totals()
    print(f"imported: {report.ok}; errors {report.messages.errors_total}")
    for entity, kinds in totals.items():
        print(f"  {entity:<22} {kinds['inserted']:>10,} inserted")
    print(
        f"{args.students:,} students, {counts['enrollments.csv']:,} enrollment rows:"
        f" {report.elapsed:.1f} s; peak RSS {peak / 1024:.0f} MB"
        f" ({before / 1024:.0f} MB before the import)"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
