"""Staging tables and set-based upserts: a OneRoster set into one district.

Rows are streamed from the files into temporary staging tables with COPY, in batches, so memory
does not grow with the files. Checks across rows (duplicates, references) and every write are
then one SQL statement per entity over the whole set. Each table is written in ONE place
(`_upsert` with that table's column list): a step that must see every stored value goes there.
That is where the columns of `app.encryption.ENCRYPTED` are encrypted (`_seal`): each row's id
is found (or taken from the table's sequence) first, since a value's associated data binds it.

Matching is by `(district_id, sourced_id)`; a bulk file ends what it no longer lists, a delta
file ends what it marks `tobedeleted`. "Ended" means: an enrollment, a teaching assignment or a
guardian link gets `ends_on` = yesterday (so no relation holds today), a user is disabled, a
role assignment is removed. Schools, terms and classes have no end; they stay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg

from app.encryption import ENCRYPTED, KEYS_SQL, DecryptionFailed, Keyring, MasterKey, data_keys
from app.roster import mapping
from app.roster.manifest import BULK, DELTA
from app.roster.messages import ERROR, WARNING, Messages
from app.roster.rows import STAGING

BATCH = 20_000
# From this many rows on, a table's foreign keys are dropped for the insert and added back (one
# set-based check, as pg_restore does) instead of checked row by row. Adding them back locks
# the table until the import commits: a district's first load, not its daily delta.
LARGE = 50_000
SHOWN = 200  # rows a check query lists one by one; the rest are counted


async def create_staging(connection: asyncpg.Connection) -> None:
    for table, columns in STAGING.items():
        spec = ", ".join(f"{name} {kind}" for name, kind in columns)
        await connection.execute(f"CREATE TEMP TABLE {table} ({spec}) ON COMMIT DROP")


async def copy_rows(
    connection: asyncpg.Connection,
    table: str,
    rows: Iterable[tuple[Any, ...]],
    after_batch: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """COPY `rows` into a staging table in batches; the count copied.

    `after_batch` runs after each batch (to flush rows gathered on the side, say).
    """
    columns = [name for name, _ in STAGING[table]]
    batch: list[tuple[Any, ...]] = []
    total = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            await connection.copy_records_to_table(table, records=batch, columns=columns)
            total += len(batch)
            batch = []
            if after_batch is not None:
                await after_batch()
    if batch:
        await connection.copy_records_to_table(table, records=batch, columns=columns)
        total += len(batch)
    return total


async def index_staging(connection: asyncpg.Connection) -> None:
    for table in STAGING:
        key = "user_sid" if table == "stg_role" else "sid"
        await connection.execute(f"CREATE INDEX ON {table} ({key})")
    await connection.execute("CREATE INDEX ON stg_enrollment (user_sid)")
    await connection.execute("CREATE INDEX ON stg_enrollment (class_sid)")
    for table in STAGING:
        await connection.execute(f"ANALYZE {table}")


class Loader:
    """The checks and writes of one import, in one transaction the caller holds."""

    def __init__(
        self,
        connection: asyncpg.Connection,
        *,
        district_id: int,
        district_sid: str | None,
        modes: dict[str, str],
        messages: Messages,
        rows: Counter[str] | None = None,
        on_step: Callable[[str], None] | None = None,
        drop_foreign_keys: bool = True,
    ) -> None:
        self.c = connection
        # Only the tables' owner may drop and re-add their keys: uploads run as the app role.
        self.large = LARGE if drop_foreign_keys else None
        self.d = district_id
        self.district_sid = district_sid
        self.modes = modes  # file (lower case, no .csv) -> bulk | delta | absent
        self.messages = messages
        self.counts: dict[str, Counter[str]] = {}
        self.rows = rows if rows is not None else Counter()  # rows read per file
        self.on_step = on_step or (lambda _: None)
        self._ring: Keyring | None = None

    # --- helpers ------------------------------------------------------------------------------

    def _mode(self, entity: str) -> str:
        return self.modes.get(entity.lower(), "absent")

    async def _report(self, severity: str, file: str, column: str, sql: str, *args: Any) -> None:
        """Run a check listing offending (line, text) rows; each is a message."""
        rows = await self.c.fetch(f"{sql} LIMIT {SHOWN + 1}", *args)
        for row in rows[:SHOWN]:
            self.messages.add(severity, file, row[0], column, row[1])
        if len(rows) > SHOWN:
            total = await self.c.fetchval(f"SELECT count(*) FROM ({sql}) q", *args)
            self.messages.count_more(severity, file, total - SHOWN)

    async def _dedupe(self, table: str, file: str, entity: str) -> None:
        """Bulk: a sourcedId twice is an error. Delta: the latest dateLastModified wins."""
        if self._mode(entity) == DELTA:
            await self.c.execute(
                f"DELETE FROM {table} s USING (SELECT ctid AS keep, sid FROM"
                f" (SELECT ctid, sid, row_number() OVER (PARTITION BY sid ORDER BY modified"
                f" DESC NULLS LAST, line DESC) AS n FROM {table}) r WHERE n > 1) dup"
                f" WHERE s.ctid = dup.keep"
            )
            return
        if not await self._repeated(table, "sid"):
            return
        await self._report(
            ERROR,
            file,
            "sourcedId",
            f"SELECT line, 'duplicate sourcedId ' || quote_literal(sid) || ' (first on line '"
            f" || first || ')' FROM (SELECT line, sid, min(line) OVER (PARTITION BY sid) AS"
            f" first FROM {table}) d WHERE line > first ORDER BY line",
        )
        # The import has failed already; the rest of the checks run on the first of each.
        await self.c.execute(
            f"DELETE FROM {table} s USING {table} f WHERE f.sid = s.sid AND f.line < s.line"
        )

    async def _repeated(self, table: str, key: str, where: str = "true") -> bool:
        """Whether a key appears twice (a hash aggregate: cheaper than listing lines)."""
        return bool(
            await self.c.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {table} u WHERE {where}"
                f" GROUP BY {key} HAVING count(*) > 1)"
            )
        )

    async def _upsert(
        self,
        entity: str,
        table: str,
        source: str,
        columns: list[str],
        *,
        insert_only: dict[str, str] | None = None,
        on_conflict: str = "",
        args: tuple[Any, ...] = (),
        rows: int = 0,
    ) -> None:
        """Update the rows of `table` whose values differ from `source`, insert the new ones.

        `source` is a SELECT giving `sourced_id` and `columns`; `insert_only` are columns set
        only when a row is made (SQL expressions over `src`).
        """
        insert_only = insert_only or {}
        sealed = [c for c in columns if c in ENCRYPTED.get(table, ())]
        if sealed:
            source = await self._seal(table, source, sealed, args)
            insert_only = {"id": "src.id", **insert_only}
            args = ()
        sets = ", ".join(f"{c} = src.{c}" for c in columns)
        differs = f"({', '.join('t.' + c for c in columns)}) IS DISTINCT FROM" + (
            f" ({', '.join('src.' + c for c in columns)})"
        )
        names = ", ".join(["district_id", "sourced_id", *columns, *insert_only])
        values = ", ".join(["$1", "src.sourced_id", *("src." + c for c in columns),
                            *insert_only.values()])  # fmt: skip
        keys = (
            await self._drop_foreign_keys(table)
            if self.large is not None and rows >= self.large
            else []
        )
        row = await self.c.fetchrow(
            f"""
            WITH src AS MATERIALIZED ({source}),
            upd AS (
              UPDATE {table} t SET {sets} FROM src
              WHERE t.district_id = $1 AND t.sourced_id = src.sourced_id AND {differs}
              RETURNING 1),
            ins AS (
              INSERT INTO {table} ({names})
              SELECT {values} FROM src
              WHERE NOT EXISTS (SELECT 1 FROM {table} t
                                WHERE t.district_id = $1 AND t.sourced_id = src.sourced_id)
              {on_conflict}
              RETURNING 1)
            SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM ins),
                   (SELECT count(*) FROM src)
            """,
            self.d,
            *args,
        )
        for name, definition in keys:
            await self.c.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        counts = self.counts.setdefault(entity, Counter())
        updated, inserted, listed = row[0], row[1], row[2]
        counts["inserted"] += inserted
        counts["updated"] += updated
        counts["unchanged"] += max(listed - inserted - updated, 0)
        if inserted + updated > 1000:
            # The planner must know of the rows just written: the next steps join them, and
            # with the statistics of an empty table it would scan them once per row.
            await self.c.execute(f"ANALYZE {table}")

    async def _keyring(self) -> Keyring:
        """The database's data keys; the newest encrypts (read once per import)."""
        if self._ring is None:
            keys = data_keys(await self.c.fetch(KEYS_SQL))
            self._ring = Keyring.unwrap(MasterKey.from_settings(), keys)
        return self._ring

    async def _seal(self, table: str, source: str, sealed: list[str], args: tuple[Any, ...]) -> str:
        """`source` with its `sealed` columns encrypted for their rows, and each row's `id`.

        A stored row keeps its id; new rows take theirs from the table's sequence, in one
        statement. A value equal to the stored one (compared as plain text, after decrypting)
        keeps the stored ciphertext, so an unchanged row stays unchanged for `_upsert` although
        every encryption draws a fresh nonce. Rows are read, encrypted and copied in batches.
        """
        plain, cipher = f"roster_plain_{table}", f"roster_sealed_{table}"
        await self.c.execute(f"DROP TABLE IF EXISTS {plain}, {cipher}")
        await self.c.execute(f"CREATE TEMP TABLE {plain} ON COMMIT DROP AS {source}", self.d, *args)
        await self.c.execute(f"CREATE INDEX ON {plain} (sourced_id)")
        await self.c.execute(f"ANALYZE {plain}")  # a temporary table has no statistics of its own
        await self.c.execute(
            f"CREATE TEMP TABLE {cipher} (sourced_id text PRIMARY KEY, id bigint NOT NULL,"
            f" {', '.join(f'{c} bytea' for c in sealed)}) ON COMMIT DROP"
        )
        stored = "t.district_id = $1 AND t.sourced_id = p.sourced_id"
        new = await self.c.fetchval(
            f"SELECT count(*) FROM {plain} p WHERE NOT EXISTS (SELECT 1 FROM {table} t"
            f" WHERE {stored})",
            self.d,
        )
        fresh = [
            int(r[0])
            for r in await self.c.fetch(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"
                " FROM generate_series(1, $1)",
                new,
            )
        ]
        ring = await self._keyring()
        query = (
            f"SELECT p.sourced_id, t.id, {', '.join(f'p.{c}' for c in sealed)},"
            f" {', '.join(f't.{c}' for c in sealed)}"
            f" FROM {plain} p LEFT JOIN {table} t ON {stored}"
        )
        width = len(sealed)
        batch: list[tuple[Any, ...]] = []
        async for row in self.c.cursor(query, self.d, prefetch=BATCH):
            row_id = row[1] if row[1] is not None else fresh.pop()
            values: list[Any] = [row[0], row_id]
            for n, column in enumerate(sealed):
                value, old = row[2 + n], row[2 + width + n]
                values.append(
                    old
                    if old is not None and _decrypts_to(ring, table, column, row_id, old, value)
                    else ring.encrypt(table, column, row_id, value)
                )
            batch.append(tuple(values))
            if len(batch) >= BATCH:
                await self.c.copy_records_to_table(cipher, records=batch)
                batch = []
        if batch:
            await self.c.copy_records_to_table(cipher, records=batch)
        await self.c.execute(f"ANALYZE {cipher}")
        columns = ", ".join(f"c.{name}" if name in sealed else f"p.{name}"
                            for name in await self._columns(plain))  # fmt: skip
        return f"SELECT {columns}, c.id FROM {plain} p JOIN {cipher} c USING (sourced_id)"

    async def _columns(self, table: str) -> list[str]:
        rows = await self.c.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum",
            table,
        )
        return [r[0] for r in rows]

    async def _drop_foreign_keys(self, table: str) -> list[tuple[str, str]]:
        keys = await self.c.fetch(
            "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND contype = 'f'",
            table,
        )
        for name, _ in keys:
            await self.c.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        return [(name, definition) for name, definition in keys]

    async def _end(
        self, entity: str, table: str, end_set: str, active: str, keep: str, deleted: str
    ) -> None:
        """End the imported rows a bulk file no longer lists, or a delta file deletes.

        `keep` selects the sourced ids the set still lists, `deleted` those it marks deleted.
        """
        mode = self._mode(entity)
        if mode == "absent":
            return
        gone = f"t.sourced_id IN ({deleted})"
        if mode == BULK:
            # `keep` is a plain SELECT over an indexed table: the planner makes it an anti-join.
            gone = f"(NOT EXISTS (SELECT 1 FROM ({keep}) k WHERE k.sid = t.sourced_id) OR {gone})"
        verb = "DELETE FROM" if end_set == "DELETE" else "UPDATE"
        tail = "" if end_set == "DELETE" else f" SET {end_set}"
        ended = await self.c.fetchval(
            f"WITH e AS ({verb} {table} t{tail} WHERE t.district_id = $1"
            f" AND t.sourced_id IS NOT NULL AND {active} AND {gone} RETURNING 1)"
            " SELECT count(*) FROM e",
            self.d,
        )
        self.counts.setdefault(entity, Counter())["ended"] += ended

    # --- the import, entity by entity ---------------------------------------------------------

    async def run(self) -> dict[str, Counter[str]]:
        for step in (self.orgs, self.sessions, self.classes, self.users, self.roles,
                     self.students, self.guardians, self.enrollments):  # fmt: skip
            self.on_step(step.__name__)
            await step()
        return self.counts

    async def orgs(self) -> None:
        await self._dedupe("stg_org", "orgs.csv", "orgs")
        await self._report(
            WARNING,
            "orgs.csv",
            "type",
            "SELECT line, 'an org of type ' || type || ' is imported as a school'"
            " FROM stg_org WHERE type IN ('department', 'local') ORDER BY line",
        )
        await self._report(
            WARNING,
            "orgs.csv",
            "parentSourcedId",
            "SELECT line, 'parent ' || quote_literal(parent_sid) || ' is not in the set'"
            " FROM stg_org o WHERE parent_sid IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM stg_org p WHERE p.sid = o.parent_sid)"
            " AND NOT EXISTS (SELECT 1 FROM school s WHERE s.district_id = $1"
            "                 AND s.sourced_id = o.parent_sid)"
            " AND parent_sid IS DISTINCT FROM $2 ORDER BY line",
            self.d,
            self.district_sid,
        )
        # The district's own name follows its org row.
        await self.c.execute(
            "UPDATE district d SET name = o.name FROM stg_org o WHERE d.id = $1"
            " AND o.type = 'district' AND o.sid = d.sourced_id AND NOT o.deleted"
            " AND d.name IS DISTINCT FROM o.name",
            self.d,
        )
        await self._upsert(
            "schools",
            "school",
            "SELECT sid AS sourced_id, name, coalesce(identifier, sid) AS code"
            " FROM stg_org WHERE NOT deleted AND type IN ('school', 'department', 'local')",
            ["name", "code"],
            insert_only={
                "level": "CASE WHEN src.name ILIKE '%high%' THEN 'high'"
                " WHEN src.name ILIKE '%middle%' OR src.name ILIKE '%junior%' THEN 'middle'"
                " WHEN src.name ILIKE '%elementary%' OR src.name ILIKE '%primary%'"
                " THEN 'elementary' ELSE 'other' END"
            },
        )

    async def sessions(self) -> None:
        await self._dedupe("stg_session", "academicSessions.csv", "academicsessions")
        await self._upsert(
            "terms",
            "term",
            "SELECT sid AS sourced_id, title AS name, starts_on, ends_on"
            " FROM stg_session WHERE NOT deleted",
            ["name", "starts_on", "ends_on"],
        )

    async def classes(self) -> None:
        await self._dedupe("stg_class", "classes.csv", "classes")
        await self._dedupe("stg_course", "courses.csv", "courses")
        for column, ref, table in (("schoolSourcedId", "school_sid", "school"),
                                   ("termSourcedIds", "term_sid", "term")):  # fmt: skip
            await self._report(
                ERROR,
                "classes.csv",
                column,
                f"SELECT line, 'no such {'org' if table == 'school' else 'academic session'}: '"
                f" || quote_literal({ref}) FROM stg_class c WHERE NOT deleted AND NOT EXISTS"
                f" (SELECT 1 FROM {table} x WHERE x.district_id = $1"
                f" AND x.sourced_id = c.{ref}) ORDER BY line",
                self.d,
            )
        await self._report(
            WARNING,
            "classes.csv",
            "courseSourcedId",
            "SELECT line, 'course ' || quote_literal(course_sid) || ' is not in the set;"
            " the class keeps its own title and code' FROM stg_class c"
            " WHERE course_sid IS NOT NULL AND NOT deleted"
            " AND NOT EXISTS (SELECT 1 FROM stg_course k WHERE k.sid = c.course_sid)"
            " ORDER BY line",
        )
        await self._upsert(
            "classes",
            "class_section",
            "SELECT c.sid AS sourced_id, s.id AS school_id, t.id AS term_id, c.title,"
            " coalesce(c.code, k.code, c.sid) AS code, coalesce(c.subject, k.subject, '')"
            " AS subject, coalesce(nullif(c.grades, '{}'), k.grades, '{}') AS grade_levels,"
            " c.class_type, c.periods"
            " FROM stg_class c"
            " JOIN school s ON s.district_id = $1 AND s.sourced_id = c.school_sid"
            " JOIN term t ON t.district_id = $1 AND t.sourced_id = c.term_sid"
            " LEFT JOIN stg_course k ON k.sid = c.course_sid AND NOT k.deleted"
            " WHERE NOT c.deleted",
            [
                "school_id",
                "term_id",
                "title",
                "code",
                "subject",
                "grade_levels",
                "class_type",
                "periods",
            ],
            insert_only={"visibility": "'PRIVATE'"},
        )

    async def users(self) -> None:
        await self._dedupe("stg_user", "users.csv", "users")
        username = "coalesce(u.username, u.identifier, u.sid)"
        if await self._repeated("stg_user", username, "NOT deleted"):
            await self._report(
                ERROR,
                "users.csv",
                "username",
                f"SELECT line, 'username ' || quote_literal(name) || ' is also on line ' || first"
                f" FROM (SELECT line, {username} AS name, min(line) OVER (PARTITION BY"
                f" {username}) AS first FROM stg_user u WHERE NOT deleted) d"
                f" WHERE line > first ORDER BY line",
            )
        await self._report(
            ERROR,
            "users.csv",
            "username",
            f"SELECT u.line, 'username ' || quote_literal(a.username) || ' belongs to another"
            f" account' FROM stg_user u JOIN app_user a ON a.username = {username}"
            f" WHERE NOT u.deleted AND (a.district_id <> $1 OR a.sourced_id IS DISTINCT FROM"
            f" u.sid) ORDER BY u.line",
            self.d,
        )
        # No password is ever imported: an imported account signs in through the identity
        # provider or sets its password from an invitation.
        await self._upsert(
            "users",
            "app_user",
            f"SELECT u.sid AS sourced_id, {username} AS username, u.email, u.given AS"
            f" first_name, u.family AS last_name, u.phone, u.enabled AS is_active"
            f" FROM stg_user u WHERE NOT u.deleted"
            f" AND NOT EXISTS (SELECT 1 FROM app_user a WHERE a.username = {username}"
            f"   AND (a.district_id <> $1 OR a.sourced_id IS DISTINCT FROM u.sid))",
            ["username", "email", "first_name", "last_name", "phone", "is_active"],
            rows=self.rows["users.csv"],
        )
        await self._end(
            "users",
            "app_user",
            "is_active = false",
            "t.is_active",
            "SELECT sid FROM stg_user WHERE NOT deleted",
            "SELECT sid FROM stg_user WHERE deleted",
        )

    def _roles_entity(self) -> str:
        return "roles" if self._mode("roles") != "absent" else "users"

    async def roles(self) -> None:
        file = "roles.csv" if self._mode("roles") != "absent" else "users.csv"
        await self._report(
            WARNING,
            file,
            "orgSourcedId",
            "SELECT line, 'no such org: ' || quote_literal(org_sid) || '; role ignored'"
            " FROM stg_role r WHERE org_sid IS NOT NULL AND NOT deleted"
            " AND org_sid IS DISTINCT FROM $2 AND NOT EXISTS (SELECT 1 FROM school s"
            " WHERE s.district_id = $1 AND s.sourced_id = r.org_sid) ORDER BY line",
            self.d,
            self.district_sid,
        )
        await self._report(
            ERROR,
            file,
            "userSourcedId",
            "SELECT line, 'no such user: ' || quote_literal(user_sid) FROM stg_role r"
            " WHERE NOT deleted AND NOT EXISTS (SELECT 1 FROM app_user a"
            " WHERE a.district_id = $1 AND a.sourced_id = r.user_sid) AND NOT EXISTS"
            " (SELECT 1 FROM stg_user u WHERE u.sid = r.user_sid) ORDER BY line",
            self.d,
        )
        roles = list(mapping.ROLES.items())
        source = (
            "SELECT DISTINCT ON (sourced_id) * FROM ("
            " SELECT r.user_sid || ':' || x.role || ':' || coalesce(x.school_sid, '')"
            "   AS sourced_id, a.id AS user_id, x.role, x.school_id"
            " FROM stg_role r"
            " JOIN unnest($2::text[], $3::text[]) AS m(oneroster, sg) ON m.oneroster = r.role"
            " JOIN app_user a ON a.district_id = $1 AND a.sourced_id = r.user_sid"
            " LEFT JOIN school s ON s.district_id = $1 AND s.sourced_id = r.org_sid"
            "   AND m.sg NOT IN ('guardian', 'district_admin')"
            " CROSS JOIN LATERAL (SELECT CASE WHEN m.sg = 'school_admin' AND s.id IS NULL"
            "   THEN 'district_admin' ELSE m.sg END AS role, s.id AS school_id,"
            "   s.sourced_id AS school_sid) x"
            " WHERE NOT r.deleted AND (s.id IS NOT NULL OR r.org_sid IS NULL"
            "   OR r.org_sid = $4 OR m.sg IN ('guardian', 'district_admin'))"
            ") q ORDER BY sourced_id"
        )
        args = ([r for r, _ in roles], [s for _, s in roles], self.district_sid)
        await self._upsert(
            "role assignments",
            "role_assignment",
            source,
            ["user_id", "role", "school_id"],
            on_conflict="ON CONFLICT ON CONSTRAINT uq_role_assignment DO NOTHING",
            args=args,
            rows=self.rows["users.csv"] + self.rows["roles.csv"],
        )
        entity = self._roles_entity()
        mode = self._mode(entity)
        if mode == "absent":
            return
        # Ends what the set no longer lists (bulk); in delta, the roles of deleted rows.
        ended = await self.c.fetchval(
            f"WITH src AS ({source}), e AS (DELETE FROM role_assignment t"
            " WHERE t.district_id = $1 AND t.sourced_id IS NOT NULL AND"
            + (
                " NOT EXISTS (SELECT 1 FROM src WHERE src.sourced_id = t.sourced_id)"
                if mode == BULK
                else " split_part(t.sourced_id, ':', 1) IN"
                " (SELECT user_sid FROM stg_role WHERE deleted)"
            )
            + " RETURNING 1) SELECT count(*) FROM e",
            self.d,
            *args,
        )
        self.counts.setdefault("role assignments", Counter())["ended"] += ended

    _STUDENT_USERS = "EXISTS (SELECT 1 FROM roster_student rs WHERE rs.sid = u.sid)"

    async def _temp(self, name: str, sql: str, *args: Any) -> None:
        """A temporary table made once from `sql`, indexed on `sid` and analysed."""
        await self.c.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {sql}", *args)
        await self.c.execute(f"CREATE INDEX ON {name} (sid)")
        await self.c.execute(f"ANALYZE {name}")

    async def students(self) -> None:
        # Each student's school: the org of their student role that is a school (the primary
        # org first), else their primaryOrgSourcedId, else the school of an enrollment.
        await self._temp(
            "roster_student",
            "SELECT DISTINCT ON (u.sid) u.sid, u.line, s.id AS school_id FROM stg_user u"
            " JOIN stg_role r ON r.user_sid = u.sid AND r.role = 'student' AND NOT r.deleted"
            " LEFT JOIN school s ON s.district_id = $1 AND s.sourced_id = r.org_sid"
            " WHERE NOT u.deleted ORDER BY u.sid, s.id IS NULL,"
            " r.org_sid = u.primary_org DESC NULLS LAST, r.is_primary DESC, r.line",
            self.d,
        )
        await self.c.execute(
            "UPDATE roster_student rs SET school_id = s.id FROM stg_user u JOIN school s"
            " ON s.district_id = $1 AND s.sourced_id = u.primary_org"
            " WHERE rs.school_id IS NULL AND u.sid = rs.sid",
            self.d,
        )
        await self.c.execute(
            "UPDATE roster_student rs SET school_id = x.id FROM (SELECT DISTINCT ON"
            " (e.user_sid) e.user_sid, s.id FROM stg_enrollment e JOIN school s"
            " ON s.district_id = $1 AND s.sourced_id = e.school_sid WHERE e.user_sid IN"
            " (SELECT sid FROM roster_student WHERE school_id IS NULL)"
            " ORDER BY e.user_sid, e.line) x WHERE rs.school_id IS NULL AND rs.sid = x.user_sid",
            self.d,
        )
        await self._report(
            ERROR,
            "users.csv",
            "orgSourcedIds",
            "SELECT line, 'a student needs a school: no org of this user is a school'"
            " FROM roster_student WHERE school_id IS NULL ORDER BY line",
        )
        number = "coalesce(u.identifier, u.sid)"
        await self._report(
            ERROR,
            "users.csv",
            "identifier",
            f"SELECT u.line, 'student number ' || quote_literal(st.student_number) ||"
            f" ' belongs to another student' FROM stg_user u JOIN student st"
            f" ON st.district_id = $1 AND st.student_number = {number}"
            f" WHERE NOT u.deleted AND {self._STUDENT_USERS}"
            f" AND st.sourced_id IS DISTINCT FROM u.sid ORDER BY u.line",
            self.d,
        )
        if await self._repeated("stg_user", number, f"NOT deleted AND {self._STUDENT_USERS}"):
            await self._report(
                ERROR,
                "users.csv",
                "identifier",
                f"SELECT line, 'student number ' || quote_literal(n) || ' is also on line '"
                f" || first FROM (SELECT line, {number} AS n, min(line) OVER (PARTITION BY"
                f" {number}) AS first FROM stg_user u WHERE NOT deleted"
                f" AND {self._STUDENT_USERS}) d WHERE line > first ORDER BY line",
            )
        await self._dedupe("stg_demographic", "demographics.csv", "demographics")
        demographics = self._mode("demographics") != "absent"
        columns = ["school_id", "user_id", "student_number", "first_name", "last_name",
                   "preferred_name", "grade_level", "email", "phone",
                   "enrollment_status"]  # fmt: skip
        insert_only: dict[str, str] = {}
        if demographics:
            columns += ["date_of_birth", "gender", "ethnicity"]
        else:
            # Without demographics.csv the values stay as they are; a new student's are unknown.
            insert_only = {
                "gender": f"'{mapping.UNSPECIFIED_SEX}'",
                "ethnicity": f"'{mapping.NOT_REPORTED}'",
            }
        await self._upsert(
            "students",
            "student",
            f"SELECT u.sid AS sourced_id, rs.school_id, a.id AS user_id,"
            f" {number} AS student_number, u.given AS first_name, u.family AS last_name,"
            f" u.preferred AS preferred_name, u.grade AS grade_level, u.email, u.phone,"
            f" 'active' AS enrollment_status, g.birth AS date_of_birth,"
            f" coalesce(g.sex, '{mapping.UNSPECIFIED_SEX}') AS gender,"
            f" coalesce(g.ethnicity, '{mapping.NOT_REPORTED}') AS ethnicity"
            f" FROM stg_user u JOIN roster_student rs ON rs.sid = u.sid"
            f" JOIN app_user a ON a.district_id = $1 AND a.sourced_id = u.sid"
            f" LEFT JOIN stg_demographic g ON g.sid = u.sid AND NOT g.deleted"
            f" WHERE NOT u.deleted AND rs.school_id IS NOT NULL"
            f" AND NOT EXISTS (SELECT 1 FROM student st WHERE st.district_id = $1"
            f"   AND st.student_number = {number} AND st.sourced_id IS DISTINCT FROM u.sid)",
            columns,
            insert_only=insert_only,
            rows=self.rows["users.csv"],
        )
        await self._end(
            "students",
            "student",
            "enrollment_status = 'inactive'",
            "t.enrollment_status = 'active'",
            "SELECT sid FROM roster_student",
            "SELECT sid FROM stg_user WHERE deleted",
        )

    async def guardians(self) -> None:
        guardian_roles = "('parent', 'guardian', 'relative')"
        await self._report(
            WARNING,
            "users.csv",
            "agentSourcedIds",
            "SELECT u.line, 'no such user: ' || quote_literal(a) || '; link ignored'"
            " FROM stg_user u, unnest(u.agent_sids) a WHERE NOT u.deleted"
            " AND NOT EXISTS (SELECT 1 FROM stg_user v WHERE v.sid = a) AND NOT EXISTS"
            " (SELECT 1 FROM app_user x WHERE x.district_id = $1 AND x.sourced_id = a)"
            " ORDER BY u.line",
            self.d,
        )
        await self._temp(
            "roster_guardian",
            f"SELECT DISTINCT ON (r.user_sid) r.user_sid AS sid, r.role FROM stg_role r"
            f" WHERE r.role IN {guardian_roles} AND NOT r.deleted"
            f" ORDER BY r.user_sid, r.is_primary DESC, r.line",
        )
        # A student naming their guardians, and a guardian naming their students.
        await self._temp(
            "roster_pair",
            "SELECT guardian_sid || '>' || student_sid AS sid, * FROM ("
            " SELECT a AS guardian_sid, u.sid AS student_sid FROM stg_user u"
            " JOIN roster_student rs ON rs.sid = u.sid, unnest(u.agent_sids) a"
            " UNION SELECT u.sid, a FROM stg_user u JOIN roster_guardian rg ON rg.sid = u.sid,"
            " unnest(u.agent_sids) a WHERE NOT u.deleted) p",
        )
        pairs = "SELECT * FROM roster_pair"
        source = (
            f"SELECT p.guardian_sid || '>' || p.student_sid AS sourced_id,"
            f" g.id AS guardian_user_id, s.id AS student_id, rel.role AS relationship,"
            f" rel.role <> 'relative' AS legal_guardian, NULL::date AS ends_on"
            f" FROM ({pairs}) p"
            f" JOIN app_user g ON g.district_id = $1 AND g.sourced_id = p.guardian_sid"
            f" JOIN student s ON s.district_id = $1 AND s.sourced_id = p.student_sid"
            f" JOIN roster_guardian rel ON rel.sid = p.guardian_sid"
        )
        await self._upsert(
            "guardian links",
            "guardian_link",
            source,
            ["guardian_user_id", "student_id", "relationship", "legal_guardian", "ends_on"],
            insert_only={"starts_on": "CURRENT_DATE", "data_access": "true"},
            rows=self.rows["users.csv"],
        )
        self.modes["guardian links"] = self._mode("users")
        await self._end(
            "guardian links",
            "guardian_link",
            "ends_on = CURRENT_DATE - 1",
            "(t.ends_on IS NULL OR t.ends_on >= CURRENT_DATE)",
            "SELECT sid FROM roster_pair",
            "SELECT NULL::text",
        )

    async def enrollments(self) -> None:
        await self._dedupe("stg_enrollment", "enrollments.csv", "enrollments")
        for column, ref, target, what, stg in (
            ("classSourcedId", "class_sid", "class_section", "class", "stg_class"),
            ("userSourcedId", "user_sid", "app_user", "user", "stg_user"),
        ):
            await self._report(
                ERROR,
                "enrollments.csv",
                column,
                f"SELECT line, 'no such {what}: ' || quote_literal({ref}) FROM stg_enrollment e"
                f" WHERE NOT deleted AND NOT EXISTS (SELECT 1 FROM {target} x"
                f" WHERE x.district_id = $1 AND x.sourced_id = e.{ref})"
                f" AND NOT EXISTS (SELECT 1 FROM {stg} s WHERE s.sid = e.{ref} AND s.deleted)"
                f" ORDER BY line",
                self.d,
            )
            await self._report(
                WARNING,
                "enrollments.csv",
                column,
                f"SELECT line, 'the {what} ' || quote_literal({ref}) || ' is tobedeleted;"
                f" enrollment ignored' FROM stg_enrollment e WHERE NOT deleted AND EXISTS"
                f" (SELECT 1 FROM {stg} s WHERE s.sid = e.{ref} AND s.deleted) ORDER BY line",
            )
        # A user enrolled in a role they do not hold (a teacher as a student): the enrollment
        # cannot be stored, and the rest of the set does not need it.
        await self._report(
            WARNING,
            "enrollments.csv",
            "role",
            "SELECT line, 'a student enrollment of ' || quote_literal(user_sid) ||"
            " ', who is not a student; ignored' FROM stg_enrollment e WHERE NOT deleted"
            " AND role = 'student' AND EXISTS (SELECT 1 FROM app_user a WHERE"
            " a.district_id = $1 AND a.sourced_id = e.user_sid) AND NOT EXISTS"
            " (SELECT 1 FROM student s WHERE s.district_id = $1 AND s.sourced_id = e.user_sid)"
            " ORDER BY line",
            self.d,
        )
        teaching = "('" + "', '".join(mapping.TEACHING_ROLES) + "')"
        await self._report(
            WARNING,
            "enrollments.csv",
            "role",
            f"SELECT line, 'a ' || role || ' enrollment has no SchoolGraph meaning; ignored'"
            f" FROM stg_enrollment WHERE NOT deleted AND role <> 'student'"
            f" AND role NOT IN {teaching} ORDER BY line",
        )
        await self._upsert(
            "teaching assignments",
            "teaching_assignment",
            f"SELECT e.sid AS sourced_id, c.id AS class_id, a.id AS staff_user_id,"
            f" coalesce(e.begins_on, t.starts_on) AS starts_on, e.ends_on, e.is_primary"
            f" FROM stg_enrollment e"
            f" JOIN class_section c ON c.district_id = $1 AND c.sourced_id = e.class_sid"
            f" JOIN term t ON t.id = c.term_id"
            f" JOIN app_user a ON a.district_id = $1 AND a.sourced_id = e.user_sid"
            f" WHERE NOT e.deleted AND e.role IN {teaching}",
            ["class_id", "staff_user_id", "starts_on", "ends_on", "is_primary"],
            rows=self.rows["enrollments.csv"],
        )
        await self._upsert(
            "enrollments",
            "enrollment",
            "SELECT e.sid AS sourced_id, c.id AS class_id, s.id AS student_id,"
            " coalesce(e.begins_on, t.starts_on) AS begins_on, e.ends_on"
            " FROM stg_enrollment e"
            " JOIN class_section c ON c.district_id = $1 AND c.sourced_id = e.class_sid"
            " JOIN term t ON t.id = c.term_id"
            " JOIN student s ON s.district_id = $1 AND s.sourced_id = e.user_sid"
            " WHERE NOT e.deleted AND e.role = 'student'",
            ["class_id", "student_id", "begins_on", "ends_on"],
            rows=self.rows["enrollments.csv"],
        )
        active = "(t.ends_on IS NULL OR t.ends_on >= CURRENT_DATE)"
        for entity, table, roles in (("teaching assignments", "teaching_assignment", teaching),
                                     ("enrollments", "enrollment", "('student')")):  # fmt: skip
            mode = self._mode("enrollments")
            if mode == "absent":
                continue
            self.modes[entity] = mode
            await self._end(
                entity,
                table,
                "ends_on = CURRENT_DATE - 1",
                active,
                f"SELECT sid FROM stg_enrollment WHERE NOT deleted AND role IN {roles}",
                "SELECT sid FROM stg_enrollment WHERE deleted",
            )


def _decrypts_to(
    ring: Keyring, table: str, column: str, row_id: int, blob: bytes, value: str | None
) -> bool:
    """Whether the stored `blob` holds `value` (a value that no longer decrypts does not)."""
    try:
        return ring.decrypt(table, column, row_id, blob) == value
    except DecryptionFailed:
        return False
