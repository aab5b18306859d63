"""`import_roster`: a OneRoster CSV set (folder or .zip, 1.1 or 1.2) into a district.

    report = await import_roster(url, Path("export.zip"), district="Riverside", dry_run=True)
    report.ok, report.totals()

All or nothing: the whole import is one transaction, rolled back when any error was found (or
for a dry run), so a bad row in the last file leaves the database as it was. Every file is read
and every check runs even after the first error, so one run reports them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg

from app.database import asyncpg_dsn
from app.roster.csvfiles import RosterSource, RosterSourceError
from app.roster.gradebook import FILES as GRADEBOOK_FILES
from app.roster.gradebook import GradebookParser, load_marks
from app.roster.load import Loader, copy_rows, create_staging, index_staging
from app.roster.manifest import ABSENT, MANIFEST, Manifest
from app.roster.messages import Messages
from app.roster.report import ImportReport
from app.roster.rows import RowParser, unknown_columns

# (file, staging table, parser method), in the order references need them.
FILES = (
    ("orgs.csv", "stg_org", "org"),
    ("academicSessions.csv", "stg_session", "session"),
    ("courses.csv", "stg_course", "course"),
    ("classes.csv", "stg_class", "class_"),
    ("users.csv", "stg_user", "user"),
    ("roles.csv", "stg_role", "role"),
    ("demographics.csv", "stg_demographic", "demographic"),
    ("enrollments.csv", "stg_enrollment", "enrollment"),
    *GRADEBOOK_FILES,
)
# Files read but not stored, with the reason given once.
NOT_IMPORTED = {
    "userProfiles.csv": "credentials are never imported",
    "resources.csv": "resources have no place in SchoolGraph",
    "classResources.csv": "resources have no place in SchoolGraph",
    "courseResources.csv": "resources have no place in SchoolGraph",
}

# on_file(file, total bytes) -> advance(bytes read so far)
Progress = Callable[[str, int], Callable[[int], None]]


class RosterImportError(Exception):
    """The import could not start: the path is unreadable or the district unknown."""


# Key of pg_advisory_xact_lock(int, int): (this constant, district id).
_IMPORT_LOCK = 1_0500


async def import_roster(
    url: str,
    path: Path,
    *,
    district: str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
    max_messages: int = 100,
    drop_foreign_keys: bool = True,
) -> ImportReport:
    """`drop_foreign_keys=False` for a connection that does not own the tables (uploads)."""
    started = time.perf_counter()
    messages = Messages(limit=max_messages, strict=strict)
    try:
        source = RosterSource.open(path)
    except RosterSourceError as exc:
        raise RosterImportError(str(exc)) from exc
    with source:
        manifest = Manifest.parse(source, messages)
        modes = _modes(source, manifest, messages)
        report = ImportReport(
            version=manifest.version, district_id=None, dry_run=dry_run, messages=messages
        )
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            transaction = connection.transaction()
            await transaction.start()
            try:
                district_id, district_sid = await _district(connection, source, district)
                report.district_id = district_id
                # One import of a district at a time (two uploads, an upload and the CLI): the
                # second waits and then compares against what the first wrote, instead of both
                # inserting the same sourced ids.
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", _IMPORT_LOCK, district_id
                )
                await create_staging(connection)
                for file, table, method in FILES:
                    if modes.get(_entity(file), ABSENT) == ABSENT:
                        continue
                    parser = GradebookParser(
                        messages, file=file, mode=modes[_entity(file)], version=manifest.version
                    )
                    report.rows_read[file] = await _stage(
                        connection, source, file, table, getattr(parser, method), parser, progress
                    )
                await index_staging(connection)
                loader = Loader(
                    connection,
                    district_id=district_id,
                    district_sid=district_sid,
                    modes=dict(modes),
                    messages=messages,
                    rows=report.rows_read,
                    drop_foreign_keys=drop_foreign_keys,
                )
                report.counts = await loader.run()
                report.counts["marks"] = await load_marks(loader)
            except BaseException:
                await transaction.rollback()
                raise
            if report.written:
                await transaction.commit()
            else:
                await transaction.rollback()
        finally:
            await connection.close()
    report.elapsed = time.perf_counter() - started
    return report


def _entity(file: str) -> str:
    return file.removesuffix(".csv").lower()


def _modes(source: RosterSource, manifest: Manifest, messages: Messages) -> dict[str, str]:
    """The mode of each file: the manifest's word, checked against the files present."""
    modes: dict[str, str] = {}
    for file, _, _ in FILES:
        entity = _entity(file)
        mode = manifest.mode(entity)
        present = source.has(file)
        if mode != ABSENT and not present:
            messages.warn(MANIFEST, 0, f"file.{entity}", f"{mode} but {file} is not in the set")
            mode = ABSENT
        elif mode == ABSENT and present:
            messages.warn(MANIFEST, 0, f"file.{entity}", f"absent, so {file} is not read")
        modes[entity] = mode
    for file, reason in NOT_IMPORTED.items():
        if source.has(file):
            messages.warn(file, 1, "-", f"not imported: {reason}")
    return modes


async def _stage(
    connection: asyncpg.Connection,
    source: RosterSource,
    file: str,
    table: str,
    parse: Callable[..., object],
    parser: RowParser,
    progress: Progress | None,
) -> int:
    for column in unknown_columns(file, source.header(file)):
        parser.messages.warn_once(file, 1, column, "not a OneRoster column; ignored")
    advance = progress(file, source.size(file)) if progress else None
    count = 0
    roles: list[tuple[object, ...]] = []

    def records() -> Iterator[tuple[object, ...]]:
        nonlocal count
        for line, row in source.rows(file, advance):
            count += 1
            if file == "users.csv":
                roles.extend(parser.user_roles(line, row))
            record = parse(line, row)
            if isinstance(record, tuple):
                yield record

    async def flush_roles() -> None:
        # 1.1 users.csv carries each user's roles: staged as they come, not held.
        if roles:
            await copy_rows(connection, "stg_role", roles)
            roles.clear()

    await copy_rows(connection, table, records(), flush_roles)
    await flush_roles()
    return count


async def _district(
    connection: asyncpg.Connection, source: RosterSource, district: str | None
) -> tuple[int, str | None]:
    """The district to load into: named by id or name, else the set's district org.

    A name no district has makes a new, empty district of that name.
    """
    org: tuple[str, str] | None = None
    if source.has("orgs.csv"):
        for _, org_row in source.rows("orgs.csv"):
            if org_row.get("type", "").lower() == "district" and org_row.get("sourcedid"):
                org = (org_row["sourcedid"], org_row.get("name") or org_row["sourcedid"])
                break
    row: asyncpg.Record | None = None
    if district is not None and district.isdigit():
        row = await connection.fetchrow(
            "SELECT id, sourced_id FROM district WHERE id = $1", int(district)
        )
        if row is None:
            raise RosterImportError(f"no district with id {district}")
    elif district is not None:
        row = await connection.fetchrow(
            "SELECT id, sourced_id FROM district WHERE name = $1 ORDER BY id LIMIT 1", district
        )
        if row is None:
            row = await connection.fetchrow(
                "INSERT INTO district (name) VALUES ($1) RETURNING id, sourced_id", district
            )
    elif org is not None:
        row = await connection.fetchrow(
            "SELECT id, sourced_id FROM district WHERE sourced_id = $1", org[0]
        ) or await connection.fetchrow(
            "INSERT INTO district (name, sourced_id) VALUES ($1, $2) RETURNING id, sourced_id",
            org[1],
            org[0],
        )
    if row is None:
        raise RosterImportError("the set has no district org: name the district with --district")
    if org is not None and row["sourced_id"] is None:
        taken = await connection.fetchval("SELECT id FROM district WHERE sourced_id = $1", org[0])
        if taken is None:
            await connection.execute(
                "UPDATE district SET sourced_id = $1 WHERE id = $2", org[0], row["id"]
            )
            return int(row["id"]), org[0]
    return int(row["id"]), row["sourced_id"]
