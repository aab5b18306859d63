"""Alembic environment: migrations run over the same asyncpg driver as the application.

Every object is created by the owner role (`app/roles.py`): connected as `schoolgraph_owner`, the
migrations run as they are; connected as a superuser, the roles are created if missing, the schema
and every existing object are handed to the owner, and the migrations run after `SET ROLE`. Either
way the application role's grants are re-applied at the end, in the same transaction.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on SQLModel.metadata)
from app import roles
from app.database import sqlalchemy_url
from app.database_tls import split_tls

config = context.config
target_metadata = SQLModel.metadata


def _become_owner(connection: Connection) -> None:
    user, superuser, member = connection.exec_driver_sql(roles.MIGRATOR_QUERY).one()
    if superuser:
        for statement in roles.create_role_statements() + roles.prepare_statements():
            connection.exec_driver_sql(statement)
    elif not member:
        raise roles.RoleError(roles.migrator_problem(user))
    if user != roles.OWNER_ROLE:
        connection.exec_driver_sql(f"SET ROLE {roles.OWNER_ROLE}")


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        _become_owner(connection)
        context.run_migrations()
        for statement in roles.grant_statements():
            connection.exec_driver_sql(statement)


async def _run_online() -> None:
    url, tls = split_tls(config.get_main_option("sqlalchemy.url") or "")
    engine = create_async_engine(sqlalchemy_url(url), connect_args=tls)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
