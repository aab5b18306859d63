"""`schoolgraph migrate`: bring the database schema to the latest revision with Alembic.

Migrations run as the owner role and end by re-applying the application role's grants
(`app/migrations/env.py`, `app/roles.py`); a connection that is neither the owner nor a superuser
raises `app.roles.RoleError`.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's ini interpolation treats '%' specially.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


async def current_revision(url: str) -> str | None:
    """The revision a database is at (None before the first migration); the application role may
    read it, so a server that does not migrate can check the schema is current."""
    from app.database import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if not await connection.fetchval("SELECT to_regclass('public.alembic_version')"):
            return None
        revision = await connection.fetchval("SELECT version_num FROM alembic_version")
        return str(revision) if revision is not None else None
    finally:
        await connection.close()
