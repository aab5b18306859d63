"""The two database roles: the owner, which migrations run as, and the application, which the
server runs as with only the grants it needs.

- `schoolgraph_owner` owns every table, sequence, function and trigger (migrations create them).
- `schoolgraph_app` may SELECT, INSERT, UPDATE and DELETE the domain tables and use their
  sequences, but may only SELECT and INSERT the record tables (`RECORD_TABLES`): no UPDATE,
  DELETE or TRUNCATE, no TRIGGER privilege, no ownership (so no ALTER TABLE, DISABLE TRIGGER or
  DROP), no superuser, CREATEROLE or CREATEDB, no CREATE in the schema, no membership of the owner.

Every `schoolgraph migrate` re-applies the grants at the end of its transaction
(`app/migrations/env.py` calls `grant_statements()`), so a table a later migration adds is covered
with no further step; a new record table only needs its name in `RECORD_TABLES`.

    >>> from app import roles
    >>> "disclosure" in roles.RECORD_TABLES
    True
    >>> roles.with_user("postgresql://postgres@db:5432/schoolgraph", roles.APP_ROLE, "s3cret")
    'postgresql://schoolgraph_app:s3cret@db:5432/schoolgraph'
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

OWNER_ROLE = "schoolgraph_owner"
APP_ROLE = "schoolgraph_app"

# The tables that are the record: what was disclosed, and what was written. The application role
# may read them and append to them, nothing else. A table another part of the record needs (a seal,
# a checkpoint) is added here and nowhere else.
RECORD_TABLES: tuple[str, ...] = ("disclosure", "disclosure_seal", "audit_event")

# Read, never written, by the app: the schema's revision (`serve` checks it is current), the
# wrapped data keys of encryption at rest (made and rotated by `schoolgraph keys` as the owner),
# and the registered persisted queries (`schoolgraph persisted-queries`, as the owner).
_READ_ONLY_TABLES: tuple[str, ...] = ("alembic_version", "data_key", "persisted_query")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _array(names: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(_literal(name) for name in names) + "]::text[]"


# Taken (to the end of the transaction) before changing owners or grants: server workers starting
# together, a CLI command beside them and a migration would otherwise race on the same catalog rows
# ("tuple concurrently updated").
_LOCK = f"SELECT pg_advisory_xact_lock(hashtext({_literal('schoolgraph roles')}))"

# True when the schema or anything in it is not the owner's yet (a new database, or one an older
# version migrated as `postgres`): only then is there something to prepare.
NEEDS_PREPARING_QUERY = f"""
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(OWNER_ROLE)})
    OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(APP_ROLE)})
    OR EXISTS (SELECT FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
               WHERE n.nspname = 'public' AND r.rolname <> {_literal(OWNER_ROLE)})
    OR EXISTS (SELECT FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
               WHERE c.relnamespace = 'public'::regnamespace
                 AND r.rolname <> {_literal(OWNER_ROLE)})
    OR EXISTS (SELECT FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
               WHERE p.pronamespace = 'public'::regnamespace
                 AND r.rolname <> {_literal(OWNER_ROLE)})
"""  # noqa: S608 (only this module's constants are interpolated)


class RoleError(RuntimeError):
    """A connection runs as the wrong role; the message is one line saying what to do."""


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same database URL logging in as another role (a password only if given)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))


def create_role_statements() -> list[str]:
    """SQL (run by a superuser) creating both roles if they are missing.

    Safe to run concurrently from several processes or test sessions: the roles are cluster-wide,
    and a role another session created in the meantime is not an error.
    """
    statements = []
    for role in (OWNER_ROLE, APP_ROLE):
        statements.append(
            f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) THEN
                CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
                  NOBYPASSRLS;
              END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END $$
            """
        )
    return statements


def password_statement(role: str, password: str) -> str:
    """`ALTER ROLE … PASSWORD …` (a literal: utility statements take no bind parameters)."""
    if role not in (OWNER_ROLE, APP_ROLE):
        raise ValueError(f"not a SchoolGraph role: {role!r}")
    return f"ALTER ROLE {role} PASSWORD {_literal(password)}"


def prepare_statements() -> list[str]:
    """SQL (run by a superuser, in the database) giving the owner role the schema and every object
    in it, including objects an older version created as `postgres`, so that migrations can run as
    the owner from then on."""
    return [
        _LOCK,
        f"ALTER SCHEMA public OWNER TO {OWNER_ROLE}",
        f"""
        DO $$ DECLARE item record; BEGIN
          EXECUTE format('GRANT CONNECT ON DATABASE %I TO {OWNER_ROLE}, {APP_ROLE}',
                         current_database());
          -- Tables first: a table carries its serial and identity sequences with it.
          FOR item IN SELECT c.oid::regclass AS name FROM pg_class c
                      WHERE c.relnamespace = 'public'::regnamespace
                        AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                        AND c.relowner <> '{OWNER_ROLE}'::regrole LOOP
            EXECUTE format('ALTER TABLE %s OWNER TO {OWNER_ROLE}', item.name);
          END LOOP;
          FOR item IN SELECT c.oid::regclass AS name FROM pg_class c
                      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
                        AND c.relowner <> '{OWNER_ROLE}'::regrole LOOP
            EXECUTE format('ALTER SEQUENCE %s OWNER TO {OWNER_ROLE}', item.name);
          END LOOP;
          FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p
                      WHERE p.pronamespace = 'public'::regnamespace
                        AND p.proowner <> '{OWNER_ROLE}'::regrole LOOP
            EXECUTE format('ALTER ROUTINE %s OWNER TO {OWNER_ROLE}', item.name);
          END LOOP;
          FOR item IN SELECT t.oid::regtype AS name FROM pg_type t
                      WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r')
                        AND t.typowner <> '{OWNER_ROLE}'::regrole LOOP
            EXECUTE format('ALTER TYPE %s OWNER TO {OWNER_ROLE}', item.name);
          END LOOP;
        END $$
        """,  # noqa: S608 (only this module's constants are interpolated)
    ]


def grant_statements() -> list[str]:
    """SQL (run by the owner, after the migrations, in the same transaction) that grants the
    application role exactly what it needs: revoke everything, then grant by kind of table."""
    return [
        _LOCK,
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
        f"""
        DO $$ DECLARE name text; BEGIN
          FOREACH name IN ARRAY {_array(_READ_ONLY_TABLES)} LOOP
            IF to_regclass(format('public.%I', name)) IS NOT NULL THEN
              EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON public.%I FROM {APP_ROLE}', name);
            END IF;
          END LOOP;
          FOREACH name IN ARRAY {_array(RECORD_TABLES)} LOOP
            IF to_regclass(format('public.%I', name)) IS NOT NULL THEN
              EXECUTE format('REVOKE UPDATE, DELETE ON public.%I FROM {APP_ROLE}', name);
            END IF;
          END LOOP;
        END $$
        """,
    ]


# What a migration connection is: (current_user, superuser?, member of the owner role?).
MIGRATOR_QUERY = f"""
SELECT current_user::text, r.rolsuper,
       EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(OWNER_ROLE)})
         AND pg_has_role(current_user, {_literal(OWNER_ROLE)}, 'MEMBER')
FROM pg_roles r WHERE r.rolname = current_user
"""  # noqa: S608 (only this module's constants are interpolated)

# One row per privilege the server's role must not have; empty when it runs with least privilege.
SERVER_PROBLEMS_QUERY = f"""
WITH me AS (SELECT * FROM pg_roles WHERE rolname = current_user)
SELECT format('connects as %I, a superuser', rolname) FROM me WHERE rolsuper
UNION ALL
SELECT format('connects as %I, which may create roles or databases', rolname)
  FROM me WHERE rolcreaterole OR rolcreatedb
UNION ALL
SELECT format('connects as %I, which owns or may alter %s', current_user, t.name)
  FROM unnest({_array(RECORD_TABLES)}) AS t(name)
  JOIN pg_class c ON c.oid = to_regclass(format('public.%I', t.name))
 WHERE pg_has_role(current_user, c.relowner, 'MEMBER')
    OR has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE, TRIGGER')
"""  # noqa: S608 (only this module's constants are interpolated)


def migrator_problem(user: str) -> str:
    return (
        f"migrations run as {OWNER_ROLE} (or a superuser), not as {user}: point"
        " SCHOOLGRAPH_MIGRATE_URL at the owner (`schoolgraph db create-roles`, docs/deployment.md)"
    )


def server_problem(found: str) -> str:
    return (
        f"the server must run as {APP_ROLE}, but DATABASE_URL {found}: create the roles with"
        " `schoolgraph db create-roles` and see docs/deployment.md"
    )
