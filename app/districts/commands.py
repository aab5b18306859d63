"""`schoolgraph district settings` and `schoolgraph school cancel`.

Both run as the database's owner (`SCHOOLGRAPH_MIGRATE_URL` with `DATABASE_URL`), like the other
operator commands (`seed`, `export-oneroster`): they are the deployment's, not an account's, and
their audit events name the operating-system user who ran them.
"""

from __future__ import annotations

import asyncio
import datetime
import getpass
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.districts import cancel, settings
from app.writes import WriteRefused

district_cli = typer.Typer(help="A district's settings.", no_args_is_help=True)
school_cli = typer.Typer(help="A school's cancellation.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _owner_url() -> str:
    from app.database import resolve_migrate_url
    from app.roles import RoleError

    try:
        return resolve_migrate_url()
    except RoleError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None


def in_owner_transaction(work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in one transaction of the owner's connection (the operator commands')."""
    from app.database import create_engine

    async def run() -> T:
        engine = create_engine(_owner_url())
        try:
            async with engine.begin() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]{message}[/red]", soft_wrap=True)
    return typer.Exit(code)


def _date(value: str | None, option: str) -> datetime.date | None:
    if value is None or value.lower() == "none":
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option}: a date (YYYY-MM-DD) or none, not {value!r}") from None


async def _district_id(connection: AsyncConnection, district: str | None) -> int:
    if district is None:
        rows = (await connection.execute(text("SELECT id FROM district LIMIT 2"))).all()
        if len(rows) != 1:
            raise WriteRefused("name the district with --district", "INVALID", "district")
        return int(rows[0].id)
    column = "id" if district.isdigit() else "name"
    row = (
        await connection.execute(
            text(f"SELECT id FROM district WHERE {column} = :key ORDER BY id LIMIT 1"),  # noqa: S608
            {"key": int(district) if district.isdigit() else district},
        )
    ).first()
    if row is None:
        raise WriteRefused(f"no district {district!r}", "NOT_FOUND", "district")
    return int(row.id)


@district_cli.command("settings")
def district_settings(
    district: str | None = typer.Option(None, help="District id or name (when there are several)."),
    data_request_days: int | None = typer.Option(
        None, help="Days to answer a data request, 1 to 45."
    ),
    contract_ends: str | None = typer.Option(None, help="YYYY-MM-DD, or none to clear."),
    subscription_ends: str | None = typer.Option(None, help="YYYY-MM-DD, or none to clear."),
    consent_notice_days: int | None = typer.Option(
        None, help="Notice before content collected without COPPA consent is erased, 0 to 365."
    ),
    require_mfa: bool | None = typer.Option(
        None,
        "--require-mfa/--no-require-mfa",
        help="Staff with an administrator or coordinator role must use a second factor.",
    ),
) -> None:
    """Print a district's settings; change those given (audited, before and after)."""
    changes: dict[str, Any] = {}
    if data_request_days is not None:
        changes["data_request_days"] = data_request_days
    if contract_ends is not None:
        changes["contract_ends_on"] = _date(contract_ends, "--contract-ends")
    if subscription_ends is not None:
        changes["subscription_ends_on"] = _date(subscription_ends, "--subscription-ends")
    if consent_notice_days is not None:
        changes["consent_notice_days"] = consent_notice_days
    if require_mfa is not None:
        changes["require_mfa"] = require_mfa

    async def work(connection: AsyncConnection) -> Any:
        district_id = await _district_id(connection, district)
        if not changes:
            return await settings.read(connection, district_id=district_id)
        return await settings.update(
            connection, None, district_id=district_id, changes=changes, by=getpass.getuser()
        )

    try:
        row = in_owner_transaction(work)
    except WriteRefused as refusal:
        raise _fail(str(refusal)) from None
    table = Table("setting", "value", title=f"{row.name} (district {row.id})")
    for name, value in settings.plain(row).items():
        table.add_row(name, "none" if value is None else str(value))
    console.print(table)
    if changes:
        console.print(f"changed: {', '.join(sorted(changes))} (audited)")


@school_cli.command("cancel")
def school_cancel(
    school: str = typer.Argument(..., help="The school's code or id."),
    district: str | None = typer.Option(
        None, help="District id or name (a code repeats across districts)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would go; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Remove a school's classes, enrollments, teaching assignments and the marks given in them;
    keep its students, guardians and their links (docs/consent.md)."""

    async def find(connection: AsyncConnection) -> tuple[cancel.School, cancel.Plan]:
        district_id = await _district_id(connection, district) if district else None
        found = await cancel.find_school(connection, school, district_id=district_id)
        return found, await cancel.preview(connection, school_id=found.id)

    try:
        target, plan = in_owner_transaction(find)
    except (cancel.CancelError, WriteRefused) as exc:
        raise _fail(str(exc)) from None
    table = Table("", "rows", title=f"{target.name} ({target.code}, school {target.id})")
    for name, count in plan.rows():
        table.add_row(("keeps " if name.endswith("kept") else "removes ") + name, f"{count:,}")
    console.print(table)
    if dry_run:
        console.print("dry run: nothing changed")
        return
    if not yes and not typer.confirm(f"Cancel {target.name}? This cannot be undone"):
        raise typer.Exit(1)

    async def work(connection: AsyncConnection) -> cancel.Plan:
        return await cancel.cancel(connection, school=target, by=getpass.getuser())

    done = in_owner_transaction(work)
    console.print(
        f"cancelled {target.name}: {done.classes:,} classes and {done.enrollments:,} enrollments"
        f" removed; {done.students_kept:,} students and {done.guardians_kept:,} guardians kept"
        " (audited)"
    )
