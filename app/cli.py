"""The `schoolgraph` command line.

Every command finds the database the same way as the server: `DATABASE_URL`, or this checkout's
embedded PostgreSQL (joined if `scripts/serve` already runs it, started otherwise). Commands that
read or append (`token`, `audit`, `policy reload`) log in as the application role, like the server;
`migrate`, `seed`, `import-oneroster`, `export-oneroster` and `persisted-queries` as the owner
(`SCHOOLGRAPH_MIGRATE_URL` with `DATABASE_URL`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

from app.accounts.commands import access_review
from app.config import PROJECT_ROOT, get_settings
from app.districts.commands import district_cli, school_cli
from app.passwords.commands import create_admin
from app.persisted.commands import persisted_cli

cli = typer.Typer(
    help="SchoolGraph: student records over GraphQL, guarded by policy.", no_args_is_help=True
)
policy_cli = typer.Typer(help="Check, print and reload the access policy.", no_args_is_help=True)
audit_cli = typer.Typer(help="The record of disclosures.", no_args_is_help=True)
db_cli = typer.Typer(help="The database server: roles and grants.", no_args_is_help=True)
cli.add_typer(policy_cli, name="policy")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(db_cli, name="db")
keys_cli = typer.Typer(
    help="Keys of encryption at rest (docs/encryption.md).", no_args_is_help=True
)
cli.add_typer(keys_cli, name="keys")
retention_cli = typer.Typer(help="Retention (docs/retention.md).", no_args_is_help=True)
cli.add_typer(retention_cli, name="retention")
cli.add_typer(district_cli, name="district")
cli.add_typer(school_cli, name="school")
cli.add_typer(persisted_cli, name="persisted-queries")
cli.command("access-review")(access_review)
cli.command("create-admin")(create_admin)
console = Console()
SCHEMA_FILE = PROJECT_ROOT / "schema" / "schema.graphql"


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]", soft_wrap=True)
    return typer.Exit(1)


def _database_url() -> str:
    """The application role's URL (what the server connects with)."""
    from app.database import resolve_database_url

    return resolve_database_url()


def _migrate_url() -> str:
    """The owner's URL (migrations, the seed); one clear line when it is not configured."""
    from app.database import resolve_migrate_url
    from app.roles import RoleError

    try:
        return resolve_migrate_url()
    except RoleError as exc:
        raise _fail(str(exc)) from None


def _upgrade(url: str) -> None:
    from app import migrate as migrations
    from app.roles import RoleError

    try:
        migrations.upgrade(url)
    except RoleError as exc:
        raise _fail(str(exc)) from None


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
    _upgrade(_migrate_url())
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

    url = _migrate_url()
    if reset:
        migrations.downgrade(url, "base")
    _upgrade(url)
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
    workers: int | None = typer.Option(
        None,
        min=1,
        help="Worker processes. Default SCHOOLGRAPH_WORKERS, else one per core this process may"
        " run on.",
    ),
    ssl_certfile: Path | None = typer.Option(
        None, help="PEM certificate (chain): serve HTTPS. Default SCHOOLGRAPH_SSL_CERTFILE."
    ),
    ssl_keyfile: Path | None = typer.Option(
        None, help="PEM private key of the certificate. Default SCHOOLGRAPH_SSL_KEYFILE."
    ),
) -> None:
    """Migrate, seed the demo district if the database is empty, and serve GraphQL."""
    import uvicorn

    from app import logs
    from app import migrate as migrations
    from app.connection_limits import server_options
    from app.database import server_role_problem
    from app.seed import seed as run_seed

    # SIGTERM (process managers, container runtimes) ends the process like Ctrl-C: by an
    # exception, so that exit handlers run and the embedded PostgreSQL is stopped. uvicorn
    # shuts down gracefully first, then re-raises the signal to this handler.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = get_settings()
    workers = workers or settings.workers
    certfile = ssl_certfile or settings.ssl_certfile
    keyfile = ssl_keyfile or settings.ssl_keyfile
    if (certfile is None) != (keyfile is None):
        console.print("[red]HTTPS needs both a certificate and its key[/red]")
        raise typer.Exit(2)
    for path in (certfile, keyfile):
        if path is not None and not path.is_file():
            console.print(f"[red]no such file: {path}[/red]")
            raise typer.Exit(2)
    scheme = "https" if certfile else "http"
    started = time.perf_counter()
    url = _database_url()
    if settings.migrate_url or not settings.database_url:
        owner_url = _migrate_url()
        _upgrade(owner_url)
        if asyncio.run(_district_count(owner_url)) == 0 and settings.demo:
            console.print("empty database: seeding the demo district")
            asyncio.run(run_seed(owner_url, progress=True))
    else:
        # Migrated by a separate step (SCHOOLGRAPH_MIGRATE_URL is not given to the server).
        current, head = asyncio.run(migrations.current_revision(url)), migrations.head_revision()
        if current != head:
            raise _fail(
                f"the database schema is at revision {current}, not {head}: run"
                " `schoolgraph migrate` with SCHOOLGRAPH_MIGRATE_URL (docs/deployment.md)"
            )
    # The server refuses to start with more privilege than it needs: a superuser or the owner
    # could rewrite the record it keeps (an old setup with DATABASE_URL=postgres stops here).
    # Checked after migrating, which creates the roles on a new server.
    problem = asyncio.run(server_role_problem(url))
    if problem:
        raise _fail(problem)
    console.print(
        f"ready in {time.perf_counter() - started:.1f} s, {workers} worker"
        f"{'s' if workers > 1 else ''} — GraphiQL at {scheme}://{host}:{port}/graphql"
    )
    # Each worker reads it to warn when its login limits are not shared (app.asgi).
    os.environ["WEB_CONCURRENCY"] = str(workers)
    # Workers get the URL rather than joining the embedded server themselves: this process
    # owns it and stops it last, whatever happened to them (a worker ended by SIGTERM or
    # SIGKILL runs no exit handler and used to leave its claim on the server behind).
    os.environ["DATABASE_URL"] = url
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_level="info",
        log_config=logs.config(),
        access_log=False,
        **server_options(get_settings()),
    )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@cli.command()
def token(
    user: str = typer.Option(..., "--user", help="Username of the account."),
    hours: float = typer.Option(8.0, help="Lifetime of the token."),
) -> None:
    """Print a bearer token for an account (for curl and GraphiQL); it is a session of the
    account, listed and revoked like a sign-in's."""
    from app.sessions.sign_in import command_line_token

    url = _database_url()  # runs its own event loop: not inside `command_line_token`
    try:
        issued = asyncio.run(command_line_token(url, user, get_settings(), timedelta(hours=hours)))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if issued is None:
        console.print(f"[red]no account named {user!r}[/red]")
        raise typer.Exit(1)
    print(issued)


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

    url = _migrate_url()  # bulk writes and data keys: owner work, like the seed
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


@cli.command("export-oneroster")
def export_oneroster(
    out: Path = typer.Argument(..., help="The .zip to write."),
    version: str = typer.Option("1.2", help="OneRoster version: 1.1 or 1.2."),
    school: int | None = typer.Option(None, help="Export only this school (its id)."),
    district: str | None = typer.Option(
        None, help="District id or name (needed when the database holds several)."
    ),
    third_party: str | None = typer.Option(
        None, help="The recipient, when a third party: students without consent are left out."
    ),
) -> None:
    """Export a district as a OneRoster CSV set, audited (docs/oneroster.md)."""
    import getpass

    from app.roster.export import RosterExportError, export_roster

    url = _migrate_url()  # reads the data keys to decrypt contact details: owner work
    try:
        summary = asyncio.run(
            export_roster(
                url,
                out,
                version=version,
                district=district,
                school=school,
                actor=getpass.getuser(),
                third_party=third_party,
            )
        )
    except RosterExportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    table = Table("file", "rows")
    for name, count in summary.rows.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"OneRoster {summary.version} of district {summary.district_id}: {out}")
    if third_party is not None:
        console.print(f"{summary.left_out:,} students left out: no consent to third parties")


@cli.command("demo-accounts")
def demo_accounts() -> None:
    """List the demo accounts and their password."""
    from app.seed import DEMO_ACCOUNTS, DEMO_PASSWORD

    table = Table("username", "role", "who")
    for account in DEMO_ACCOUNTS:
        table.add_row(account.username, account.role, account.description)
    console.print(table)
    console.print(f"password for every demo account: [bold]{DEMO_PASSWORD}[/bold]")


@cli.command("graphiql-assets")
def graphiql_assets() -> None:
    """Fetch GraphiQL's files from the npm registry (pinned, integrity-checked); once they are
    in place this does nothing, so GraphiQL works offline afterwards."""
    from app.graphiql import assets

    try:
        folder = assets.fetch()
    except assets.AssetError as exc:
        raise _fail(f"GraphiQL's files: {exc}") from exc
    console.print(f"GraphiQL's files: {folder}")


@cli.command("export-schema")
def export_schema(
    check: bool = typer.Option(False, help="Fail if schema/schema.graphql is out of date."),
) -> None:
    """Write the GraphQL schema to schema/schema.graphql."""
    from app.policy import POLICY_DIR, load_policy
    from schema import create_schema

    # The committed file describes access under the default policies, whatever this checkout's
    # SCHOOLGRAPH_POLICY_DIR says.
    printed = create_schema(policy=load_policy(POLICY_DIR)).as_str() + "\n"
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


def _checkpoint_dir(directory: Path | None) -> Path | None:
    return directory or get_settings().checkpoint_dir


_CHECKPOINTS_OPTION = typer.Option(
    None, "--checkpoints", help="Checkpoint directory (default: SCHOOLGRAPH_CHECKPOINT_DIR)."
)


@audit_cli.command("verify")
def audit_verify(directory: Path = _CHECKPOINTS_OPTION) -> None:
    """Check every disclosure's MAC, the chain of seals and the checkpoints; list what is wrong."""
    from app import checkpoints, seals
    from app.database import create_engine

    url = _database_url()  # runs its own event loop: not inside `run`
    settings = get_settings()
    folder = _checkpoint_dir(directory)

    async def run() -> seals.Verification:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                out, by_district = await seals.verify_chain(connection, settings.audit_key)
                if folder is not None:
                    await checkpoints.verify_checkpoints(
                        connection,
                        audit_key=settings.audit_key,
                        directory=folder,
                        seals=by_district,
                        out=out,
                    )
                return out
        finally:
            await engine.dispose()

    out = asyncio.run(run())
    summary = (
        f"{out.rows:,} disclosures: {out.sealed:,} sealed in {out.seals:,} seals,"
        f" {out.unsealed:,} not sealed yet; {out.checkpoints:,} checkpoints"
        + ("" if folder is not None else " (no checkpoint directory)")
    )
    if not out.intact:
        for problem in out.problems:
            console.print(f"[red]TAMPERED: {problem}[/red]", soft_wrap=True)
        console.print(f"[red]{summary}: the record has been tampered with[/red]", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"{summary}: the record is intact", soft_wrap=True)


@audit_cli.command("seal")
def audit_seal() -> None:
    """Seal every district's new disclosures now (the server also does it on a schedule)."""
    from app import seals
    from app.database import create_engine

    url = _database_url()

    async def run() -> list[seals.Seal]:
        engine = create_engine(url)
        try:
            return await seals.seal_all(engine, get_settings().audit_key)
        finally:
            await engine.dispose()

    made = asyncio.run(run())
    for seal in made:
        console.print(
            f"district {seal.district_id}: seal {seal.seal_id} covers {seal.rows:,} more"
            f" disclosures ({seal.total_rows:,} in all, up to id {seal.last_id})"
        )
    if not made:
        console.print("nothing new to seal")


@audit_cli.command("checkpoint")
def audit_checkpoint(directory: Path = _CHECKPOINTS_OPTION) -> None:
    """Seal, then write a signed checkpoint per district to the checkpoint directory."""
    from app import checkpoints, seals
    from app.database import create_engine

    folder = _checkpoint_dir(directory)
    if folder is None:
        console.print("[red]set SCHOOLGRAPH_CHECKPOINT_DIR or pass --checkpoints DIR[/red]")
        raise typer.Exit(2)
    url = _database_url()
    key = get_settings().audit_key

    async def run() -> list[checkpoints.Written]:
        engine = create_engine(url)
        try:
            await seals.seal_all(engine, key)
            async with engine.connect() as connection:
                return await checkpoints.write_checkpoints(
                    connection, audit_key=key, directory=folder
                )
        finally:
            await engine.dispose()

    try:
        written = asyncio.run(run())
    except checkpoints.CheckpointConflict as exc:
        console.print(f"[red]TAMPERED: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from exc
    for item in written:
        console.print(
            f"district {item.district_id}: seal {item.seal_id}, {item.total_rows:,} disclosures"
            f" → {item.path}",
            soft_wrap=True,
        )
    if not written:
        console.print("checkpoints are up to date")


@db_cli.command("create-roles")
def db_create_roles(
    admin_url: str = typer.Option(
        ..., "--admin-url", envvar="SCHOOLGRAPH_ADMIN_URL", help="A superuser's URL on the server."
    ),
    database: str = typer.Option("schoolgraph", help="The application database (made if missing)."),
    owner_password: str = typer.Option(None, help="Password of the owner role."),
    app_password: str = typer.Option(None, help="Password of the application role."),
) -> None:
    """Create the owner and application roles and the database (for an external server).

    Prints the two settings to deploy with: DATABASE_URL (the server, least privilege) and
    SCHOOLGRAPH_MIGRATE_URL (migrations and the seed). A role created now gets a generated password
    unless one is given; an existing role keeps its password unless one is given.
    """
    import secrets

    import asyncpg

    from app import roles
    from app.database import asyncpg_dsn, setup_roles, with_database

    async def run() -> dict[str, str | None]:
        connection = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            superuser = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            if not await connection.fetchval(superuser):
                raise _fail("--admin-url must log in as a superuser (it creates roles and grants)")
            existing = {
                row[0]
                for row in await connection.fetch(
                    "SELECT rolname FROM pg_roles WHERE rolname = any($1::text[])",
                    [roles.OWNER_ROLE, roles.APP_ROLE],
                )
            }
            await setup_roles(with_database(admin_url, database))
            passwords: dict[str, str | None] = {}
            for role, given in ((roles.OWNER_ROLE, owner_password), (roles.APP_ROLE, app_password)):
                password = given or (None if role in existing else secrets.token_urlsafe(24))
                if password:
                    await connection.execute(roles.password_statement(role, password))
                passwords[role] = password
            return passwords
        finally:
            await connection.close()

    passwords = asyncio.run(run())
    url = with_database(admin_url, database)
    for role, password in passwords.items():
        if password is None:
            typer.echo(f"{role} existed: its password is unchanged", err=True)
    print(f"DATABASE_URL={roles.with_user(url, roles.APP_ROLE, passwords[roles.APP_ROLE])}")
    owner_url = roles.with_user(url, roles.OWNER_ROLE, passwords[roles.OWNER_ROLE])
    print(f"SCHOOLGRAPH_MIGRATE_URL={owner_url}")


def _student_key(student: str | None) -> dict[str, Any]:
    """`--student` as the API's id of a Student, else as a student number."""
    from schema.errors import BadInput
    from schema.relay import from_global_id

    if student is None:
        return {}
    try:
        return {"student_id": from_global_id(student, "Student")[1]}
    except BadInput:
        return {"student_number": student}


@audit_cli.command("report")
def audit_report(
    viewer: str | None = typer.Option(None, "--viewer", help="Username of the reader."),
    student: str | None = typer.Option(
        None, "--student", help="The student: an API id or a student number."
    ),
    since: datetime | None = typer.Option(
        None, "--from", formats=["%Y-%m-%d"], help="First day (UTC), inclusive."
    ),
    until: datetime | None = typer.Option(
        None, "--to", formats=["%Y-%m-%d"], help="Last day (UTC), inclusive."
    ),
    out: Path | None = typer.Option(None, "--out", help="CSV file to write; stdout if unset."),
) -> None:
    """Write the disclosures of one reader or of one student as CSV: who read, when, which
    student, which field classes, on what basis and purpose, in which request."""
    from app import investigation
    from app.database import create_engine
    from schema.relay import to_global_id

    if (viewer is None) == (student is None):
        console.print("[red]give either --viewer or --student[/red]")
        raise typer.Exit(2)
    start = since.replace(tzinfo=UTC) if since else None
    end = until.replace(tzinfo=UTC) + timedelta(days=1) if until else None
    if start is not None and end is not None and end <= start:
        console.print("[red]--to is before --from[/red]")
        raise typer.Exit(2)
    url = _database_url()  # runs its own event loop: not inside `run`

    async def run(stream: TextIO) -> int | None:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                found = await investigation.find_subject(
                    connection, username=viewer, **_student_key(student)
                )
                if found is None:
                    return None
                district_id, viewer_id, student_id = found
                flt = investigation.DisclosureFilter(
                    student_id=student_id, viewer_id=viewer_id, since=start, until=end
                )
                return await investigation.write_report(
                    connection=connection,
                    district_id=district_id,
                    flt=flt,
                    out=stream,
                    global_id=to_global_id,
                )
        finally:
            await engine.dispose()

    with (
        open(out, "w", newline="", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout)
    ) as stream:
        written = asyncio.run(run(stream))
    if written is None:
        console.print(f"[red]no such {'user' if viewer else 'student'}[/red]")
        raise typer.Exit(1)
    # On stderr: stdout may be the CSV itself.
    Console(stderr=True).print(f"{written:,} disclosures written to {out or 'stdout'}")


@keys_cli.command("generate")
def keys_generate() -> None:
    """Print a new random master key (for SCHOOLGRAPH_ENCRYPTION_KEY or its file)."""
    from app.encryption import new_master_key_text

    print(new_master_key_text())


@keys_cli.command("status")
def keys_status() -> None:
    """The data keys and how many encrypted values each one holds."""
    from app import keys
    from app.database import create_engine

    url = _database_url()

    async def run() -> list[keys.KeyStatus]:
        engine = create_engine(url)
        try:
            return await keys.status(engine)
        finally:
            await engine.dispose()

    table = Table("data key", "created", "retired", "values", "")
    for key in asyncio.run(run()):
        table.add_row(
            str(key.id),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.retired_at:%Y-%m-%d %H:%M}" if key.retired_at else "",
            f"{key.values:,}",
            "current" if key.current else "",
        )
    console.print(table)


@keys_cli.command("rotate")
def keys_rotate(
    resume: bool = typer.Option(
        False, help="No new key: finish re-encrypting under the current one."
    ),
) -> None:
    """Make a new data key current and re-encrypt every value under it, in batches."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app import keys
    from app.database import create_engine

    url = _migrate_url()  # data keys are written by the owner only
    bar = Progress(
        TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    tasks: dict[str, object] = {}

    def advance(table: str, done: int, total: int) -> None:
        if table not in tasks:
            tasks[table] = bar.add_task(table, total=total)
        bar.update(tasks[table], completed=done, total=total)  # type: ignore[arg-type]

    async def run() -> tuple[int, int]:
        engine = create_engine(url)
        try:
            return await keys.rotate(engine, resume=resume, progress=advance)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    with bar:
        key_id, changed = asyncio.run(run())
    console.print(
        f"data key {key_id} is current: {changed:,} values re-encrypted in"
        f" {time.perf_counter() - started:.1f} s; `schoolgraph keys retire` destroys the old keys"
    )


@keys_cli.command("retire")
def keys_retire() -> None:
    """Destroy the wrapped data keys that no value is under any more."""
    from app import keys
    from app.database import create_engine

    url = _migrate_url()  # data keys are written by the owner only

    async def run() -> list[int]:
        engine = create_engine(url)
        try:
            return await keys.retire(engine)
        finally:
            await engine.dispose()

    retired = asyncio.run(run())
    console.print(f"retired data keys: {', '.join(map(str, retired)) or 'none'}")


@keys_cli.command("rewrap")
def keys_rewrap(
    new_key_file: Path = typer.Option(
        ..., help="A file holding the new master key (`schoolgraph keys generate`)."
    ),
) -> None:
    """Rotate the master key: wrap the data keys with a new one (the values are untouched).

    Then give the servers the new key (SCHOOLGRAPH_ENCRYPTION_KEY[_FILE]) and restart them.
    """
    from app import keys
    from app.database import create_engine
    from app.encryption import MasterKey, parse_master_key

    url = _migrate_url()  # data keys are written by the owner only
    new_master = MasterKey(parse_master_key(new_key_file.read_text(), str(new_key_file)))

    async def run() -> int:
        engine = create_engine(url)
        try:
            return await keys.rewrap(engine, new_master)
        finally:
            await engine.dispose()

    count = asyncio.run(run())
    console.print(
        f"{count} data keys wrapped by the new master key (fingerprint {new_master.fingerprint});"
        " set it as SCHOOLGRAPH_ENCRYPTION_KEY[_FILE] and restart the servers"
    )


@retention_cli.command("run")
def retention_run(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    as_of: datetime | None = typer.Option(
        None, "--as-of", formats=["%Y-%m-%d"], help="The day the rules are applied on (today)."
    ),
    district: str | None = typer.Option(None, "--district", help="A district id (API or number)."),
) -> None:
    """De-identify, erase, archive and purge what the retention rules say is due."""
    from app.retention.report import retention_command
    from schema.relay import to_global_id

    district_id = None if district is None else _district_key(district)
    day = as_of.date() if as_of else datetime.now(UTC).date()
    raise typer.Exit(
        asyncio.run(
            retention_command(
                _database_url(), as_of=day, district_id=district_id, dry_run=dry_run,
                console=console, global_id=to_global_id,
            )
        )
    )  # fmt: skip


def _district_key(district: str) -> int:
    from schema.errors import BadInput
    from schema.relay import from_global_id

    try:
        return int(district) if district.isdigit() else from_global_id(district, "District")[1]
    except BadInput as exc:
        raise typer.BadParameter(str(exc), param_hint="--district") from None


def main() -> None:
    from app.config import SettingError

    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
    except SettingError as exc:
        # A deployment's mistake, not a bug: one line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
