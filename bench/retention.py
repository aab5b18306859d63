"""`scripts/bench --retention`: time `schoolgraph retention run` over a district whose contract
ended seven months ago.

    scripts/bench --retention --students 10000

A new database on the server of `--database-url` (a superuser's URL; default: the one the
tests use, `TEST_DATABASE_URL`, else this checkout's embedded server) is migrated and seeded
with the demo districts, every district's contract is set to have ended seven months ago, and
the run is timed as the application role: the dry run (the plan), then the run itself (every
student and account de-identified, in batches), then a second run (nothing due).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from rich.console import Console

from app import migrate
from app.database import asyncpg_dsn, resolve_admin_url, setup_roles, with_database
from app.retention.report import retention_command
from app.retention.rules import months_before
from app.roles import APP_ROLE, OWNER_ROLE, with_user
from app.seed import seed
from schema.relay import to_global_id


async def _create(base: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(base, "postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop(base: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(base, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _end_contracts(url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        ended = months_before(datetime.now(UTC).date(), 7)
        await connection.execute("UPDATE district SET contract_ends_on = $1", ended)
        return int(await connection.fetchval("SELECT count(*) FROM app_user"))
    finally:
        await connection.close()


async def _timed(url: str, *, dry_run: bool) -> tuple[float, int, str]:
    out = io.StringIO()
    started = time.perf_counter()
    code = await retention_command(
        url,
        as_of=datetime.now(UTC).date(),
        district_id=None,
        dry_run=dry_run,
        console=Console(file=out, width=200),
        global_id=to_global_id,
    )
    return time.perf_counter() - started, code, out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --retention", description=__doc__)
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--database-url", help="a superuser's URL on the PostgreSQL server")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    base = args.database_url or os.environ.get("TEST_DATABASE_URL") or resolve_admin_url()
    name = f"sg_bench_retention_{uuid.uuid4().hex[:8]}"
    url = with_database(base, name)
    asyncio.run(_create(base, name))
    try:
        asyncio.run(setup_roles(url))
        owner = with_user(url, OWNER_ROLE)
        migrate.upgrade(owner)
        seeded = asyncio.run(seed(owner, students=args.students, seed=1, progress=False))
        accounts = asyncio.run(_end_contracts(url))
        print(f"seeded {args.students:,} students, {accounts:,} accounts in {seeded.elapsed:.1f} s")
        app_url = with_user(url, APP_ROLE)
        plan_s, _, listing = asyncio.run(_timed(app_url, dry_run=True))
        lines = sum(1 for line in listing.splitlines() if line.endswith("\tENDED"))
        run_s, code, output = asyncio.run(_timed(app_url, dry_run=False))
        again_s, _, again = asyncio.run(_timed(app_url, dry_run=False))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        if not args.keep:
            asyncio.run(_drop(base, name))
    print(
        "\n".join(
            line for line in output.splitlines() if "Done in" in line or "rows changed" in line
        )
    )
    print(
        f"retention run --dry-run: {plan_s:.1f} s ({lines:,} students listed);"
        f" retention run: {run_s:.1f} s; again: {again_s:.1f} s"
        f" ({'nothing due' if 'Nothing is due' in again else 'NOT idempotent'});"
        f" peak RSS {peak / 1024:.0f} MB"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
