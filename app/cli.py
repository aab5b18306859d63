"""The `schoolgraph` command line.

Every command finds the database the same way as the server: `DATABASE_URL`, or this checkout's
embedded PostgreSQL (joined if `scripts/serve` already runs it, started otherwise).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.config import PROJECT_ROOT, get_settings

cli = typer.Typer(
    help="SchoolGraph: student records over GraphQL, guarded by policy.", no_args_is_help=True
)
policy_cli = typer.Typer(help="Check, print and reload the access policy.", no_args_is_help=True)
audit_cli = typer.Typer(help="The record of disclosures.", no_args_is_help=True)
cli.add_typer(policy_cli, name="policy")
cli.add_typer(audit_cli, name="audit")
console = Console()
SCHEMA_FILE = PROJECT_ROOT / "schema" / "schema.graphql"


def _database_url() -> str:
    from app.database import ensure_database, resolve_database_url

    url = resolve_database_url()
    asyncio.run(ensure_database(url))
    return url


async def _district_count(url: str) -> int:
    import asyncpg

    from app.database import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        exists = await connection.fetchval("SELECT to_regclass('public.district') IS NOT NULL")
        return int(await connection.fetchval("SELECT count(*) FROM district")) if exists else 0
    finally:
        await connection.close()


@cli.command()
def migrate() -> None:
    """Bring the database schema to the latest revision."""
    from app import migrate as migrations

    migrations.upgrade(_database_url())
    console.print("database schema is up to date")


@cli.command()
def seed(
    students: int = typer.Option(2000, min=1, help="Students in the demo district."),
    seed: int = typer.Option(1, help="Random seed: the same seed gives the same district."),
    reset: bool = typer.Option(False, help="Drop all data first."),
) -> None:
    """Build the demo district (and a second district) in an empty database."""
    from app import migrate as migrations
    from app.seed import SeedError
    from app.seed import seed as run_seed

    url = _database_url()
    if reset:
        migrations.downgrade(url, "base")
    migrations.upgrade(url)
    try:
        summary = asyncio.run(run_seed(url, students=students, seed=seed, progress=True))
    except SeedError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"seeded {students:,} students in {summary.elapsed:.1f} s")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Migrate, seed the demo district if the database is empty, and serve GraphQL."""
    import uvicorn

    from app import logs
    from app import migrate as migrations
    from app.seed import seed as run_seed

    started = time.perf_counter()
    url = _database_url()
    migrations.upgrade(url)
    if asyncio.run(_district_count(url)) == 0 and get_settings().demo:
        console.print("empty database: seeding the demo district")
        asyncio.run(run_seed(url, progress=True))
    console.print(
        f"ready in {time.perf_counter() - started:.1f} s — GraphiQL at http://{host}:{port}/graphql"
    )
    # Each worker reads it to warn when its login limits are not shared (app.asgi).
    os.environ["WEB_CONCURRENCY"] = str(workers)
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=logs.config(),
        access_log=False,
    )


@cli.command()
def token(
    user: str = typer.Option(..., "--user", help="Username of the account."),
    hours: float = typer.Option(8.0, help="Lifetime of the token."),
) -> None:
    """Print a bearer token for an account (for curl and GraphiQL)."""
    from app.auth import issue_token

    url = _database_url()  # runs its own event loop: not inside `find`

    async def find() -> int | None:
        import asyncpg

        from app.database import asyncpg_dsn

        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            found = await connection.fetchval("SELECT id FROM app_user WHERE username = $1", user)
            return int(found) if found is not None else None
        finally:
            await connection.close()

    user_id = asyncio.run(find())
    if user_id is None:
        console.print(f"[red]no account named {user!r}[/red]")
        raise typer.Exit(1)
    try:
        print(issue_token(user_id, get_settings(), ttl=timedelta(hours=hours)))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@cli.command("import-oneroster")
def import_oneroster(
    path: Path = typer.Argument(..., help="A OneRoster 1.1 or 1.2 CSV set: a .zip or a folder."),
    district: str | None = typer.Option(
        None, help="District id or name to load into (a new name makes a new district)."
    ),
    dry_run: bool = typer.Option(False, help="Check and count what would change; write nothing."),
    strict: bool = typer.Option(False, help="Treat warnings as errors."),
) -> None:
    """Import a OneRoster CSV set, all or nothing (docs/oneroster.md)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from app.roster.importer import RosterImportError, import_roster
    from app.roster.report import KINDS

    url = _database_url()
    with Progress(
        TextColumn("{task.description:<22}"), BarColumn(), DownloadColumn(), console=console
    ) as bars:

        def on_file(file: str, size: int) -> Callable[[int], None]:
            task = bars.add_task(file, total=size or None)
            return lambda done: bars.update(task, completed=done)

        try:
            report = asyncio.run(
                import_roster(
                    url, path, district=district, dry_run=dry_run, strict=strict, progress=on_file
                )
            )
        except RosterImportError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    for line in report.lines():
        console.print(line, style="red" if line.startswith("error") else "yellow", markup=False)
    table = Table("entity", *KINDS)
    for entity, counts in report.totals().items():
        table.add_row(entity, *(f"{counts[kind]:,}" for kind in KINDS))
    console.print(table)
    verdict = (
        "failed: nothing written"
        if not report.ok
        else "dry run: nothing written"
        if dry_run
        else "imported"
    )
    console.print(
        f"OneRoster {report.version} into district {report.district_id}: {verdict};"
        f" {report.messages.errors_total:,} errors, {report.messages.warnings_total:,} warnings,"
        f" {report.elapsed:.1f} s"
    )
    if not report.ok:
        raise typer.Exit(1)


@cli.command("demo-accounts")
def demo_accounts() -> None:
    """List the demo accounts and their password."""
    from app.seed import DEMO_ACCOUNTS, DEMO_PASSWORD

    table = Table("username", "role", "who")
    for account in DEMO_ACCOUNTS:
        table.add_row(account.username, account.role, account.description)
    console.print(table)
    console.print(f"password for every demo account: [bold]{DEMO_PASSWORD}[/bold]")


@cli.command("export-schema")
def export_schema(
    check: bool = typer.Option(False, help="Fail if schema/schema.graphql is out of date."),
) -> None:
    """Write the GraphQL schema to schema/schema.graphql."""
    from schema import create_schema

    printed = create_schema().as_str() + "\n"
    if check:
        if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != printed:
            console.print(
                "[red]schema/schema.graphql is stale: run schoolgraph export-schema[/red]"
            )
            raise typer.Exit(1)
        return
    SCHEMA_FILE.write_text(printed)
    console.print(f"wrote {SCHEMA_FILE.relative_to(PROJECT_ROOT)}")


@policy_cli.command("check")
def policy_check(directory: Path = typer.Option(None, help="Policy directory.")) -> None:
    """Validate the model and policy files."""
    from app import policy

    problems = policy.check(directory or get_settings().policy_dir)
    for problem in problems:
        console.print(f"[red]{problem}[/red]")
    if problems:
        raise typer.Exit(1)
    console.print("policy files are valid")


@policy_cli.command("matrix")
def policy_matrix() -> None:
    """Print the read-access table (SPEC §5) computed from the policy files."""
    from app import policy

    rows = policy.matrix(policy.load_policy(get_settings().policy_dir))
    table = Table(*rows[0])
    for row in rows[1:]:
        table.add_row(*row)
    console.print(table)


@policy_cli.command("reload")
def policy_reload() -> None:
    """Tell every running worker to reload the policy files (after `policy check`)."""
    from app import policy, policy_sync

    problems = policy.check(get_settings().policy_dir)
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]")
        raise typer.Exit(1)
    asyncio.run(policy_sync.notify(_database_url()))
    console.print("reload requested")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the record of disclosures; report the first broken link."""
    from app.database import create_engine
    from app.disclosures import verify

    url = _database_url()  # runs its own event loop: not inside `run`

    async def run() -> tuple[int, object]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await verify(connection)
        finally:
            await engine.dispose()

    checked, broken = asyncio.run(run())
    if broken is not None:
        console.print(f"[red]broken link after {checked - 1:,} good rows: {broken}[/red]")
        raise typer.Exit(1)
    console.print(f"{checked:,} disclosures verified: the chain is intact")


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
