"""`schoolgraph access-review`: the termly access review of a school or of the district, as a
table or as CSV on standard output (read-only, as the application role)."""

from __future__ import annotations

import asyncio
import csv
import datetime
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts import review
from app.writes import WriteRefused

console = Console()
err = Console(stderr=True)

CSV_COLUMNS = (
    "kind",
    "username",
    "first_name",
    "last_name",
    "active",
    "roles",
    "grants",
    "last_sign_in_at",
    "reviewed_at",
    "reviewed_by",
    "flags",
)


async def _district(connection: AsyncConnection, district: str | None) -> tuple[int, str]:
    """The district named (id or name), or the first one (the lowest id) when none is."""
    params: dict[str, Any] = {}
    if district is None:
        sql = "SELECT id, name FROM district ORDER BY id LIMIT 1"
    elif district.isdigit():
        sql, params = "SELECT id, name FROM district WHERE id = :key", {"key": int(district)}
    else:
        sql, params = "SELECT id, name FROM district WHERE name = :key", {"key": district}
    row = (await connection.execute(text(sql), params)).first()
    if row is None:
        raise WriteRefused(f"no district {district!r}", "NOT_FOUND", "district")
    return int(row.id), str(row.name)


async def _school(
    connection: AsyncConnection, school: str, district_id: int | None
) -> tuple[int, int, str]:
    """(school id, its district, name) of a school named by id or code."""
    column = "id" if school.isdigit() else "code"
    rows = (
        await connection.execute(
            text(
                f"SELECT id, district_id, name FROM school WHERE {column} = :key"  # noqa: S608
                " AND (CAST(:district AS bigint) IS NULL OR district_id = :district)"
                " ORDER BY district_id, id"
            ),
            {"key": int(school) if school.isdigit() else school, "district": district_id},
        )
    ).all()
    if not rows:
        raise WriteRefused(f"no school {school!r}", "NOT_FOUND", "school")
    if len({row.district_id for row in rows}) > 1:
        # A code repeats across districts: the first district's, as without --school.
        err.print(
            f"several districts have a school {school!r}: reviewing district"
            f" {rows[0].district_id}'s (--district-id picks another)"
        )
    return int(rows[0].id), int(rows[0].district_id), str(rows[0].name)


async def run_review(
    url: str, *, school: str | None, district: str | None
) -> tuple[review.AccessReview, str]:
    """The review and its title, in one read-only transaction."""
    from app.database import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            district_id = None
            if district is not None or school is None:
                district_id, district_name = await _district(connection, district)
            if school is not None:
                school_id, district_id, name = await _school(connection, school, district_id)
                title = f"Access review: {name} (school {school_id})"
            else:
                school_id = None
                title = f"Access review: {district_name} (district {district_id})"
            if district_id is None:  # a school names its district
                raise WriteRefused("no district", "NOT_FOUND", "district")
            result = await review.access_review(
                connection, district_id=district_id, school_id=school_id
            )
            await connection.rollback()
            return result, title
    finally:
        await engine.dispose()


def _time(value: datetime.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _roles(account: review.ReviewAccount) -> str:
    return "; ".join(
        f"{r.role}@{r.school_name}" if r.school_name else f"{r.role}@district"
        for r in account.roles
    )


def _grants(account: review.ReviewAccount) -> str:
    return "; ".join(
        f"{g.scope} grant {g.id} until {g.expires_at.date().isoformat()}" for g in account.grants
    )


def rows(result: review.AccessReview) -> list[dict[str, Any]]:
    """One dict per account (CSV_COLUMNS), staff and vendors first, then student accounts."""
    out = [
        {
            "kind": "staff",
            "username": a.username,
            "first_name": a.first_name,
            "last_name": a.last_name,
            "active": "yes" if a.is_active else "no",
            "roles": _roles(a),
            "grants": _grants(a),
            "last_sign_in_at": _time(a.last_sign_in_at),
            "reviewed_at": _time(a.reviewed_at),
            "reviewed_by": a.reviewed_by or "",
            "flags": " ".join(a.flags),
        }
        for a in result.accounts
    ]
    out += [
        {
            "kind": "student",
            "username": s.username,
            "first_name": "",
            "last_name": "",
            "active": "yes",
            "roles": f"student@{s.school_name}",
            "grants": "",
            "last_sign_in_at": _time(s.last_sign_in_at),
            "reviewed_at": "",
            "reviewed_by": "",
            "flags": " ".join(s.flags),
        }
        for s in result.students
    ]
    return out


def access_review(
    school: str | None = typer.Option(None, "--school", help="The school's code or id."),
    whole_district: bool = typer.Option(
        False, "--district", help="Review the whole district (the default without --school)."
    ),
    district: str | None = typer.Option(
        None, "--district-id", help="District id or name (default: the first district)."
    ),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on standard output."),
) -> None:
    """The termly access review: every staff and vendor account of a school or of the district,
    with roles, active grants, last sign-in and flags; then the student accounts still active
    for records that are not."""
    from app.database import resolve_database_url

    if whole_district and school is not None:
        err.print("[red]--district and --school: give one[/red]")
        raise typer.Exit(2)
    try:
        result, title = asyncio.run(
            run_review(resolve_database_url(), school=school, district=district)
        )
    except WriteRefused as refusal:
        err.print(f"[red]{refusal}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    found = rows(result)
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(found)
        return
    table = Table(*CSV_COLUMNS[:2], "name", *CSV_COLUMNS[4:], title=title)
    for row in found:
        name = f"{row['first_name']} {row['last_name']}".strip()
        table.add_row(row["kind"], row["username"], name, *(str(row[c]) for c in CSV_COLUMNS[4:]))
    console.print(table)
    counts = ", ".join(f"{flag} {n}" for flag, n in result.flag_counts().items())
    console.print(f"{len(result.accounts)} staff and vendor accounts; {counts}")
