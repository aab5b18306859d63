"""DataLoaders, made per request by the context: one statement per kind of thing asked
for, however many rows the query touches. Values come back in key order (missing: None or [])."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Row
from strawberry.dataloader import DataLoader

from app import reads
from app.encryption import decrypt_rows
from app.rights import inspect
from app.rights.deidentify import Preview, deletion_previews
from schema.reveals import scope_for

if TYPE_CHECKING:
    from app.relations import Viewer
    from schema.context import Context

Rows = list[Row[Any]]


K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Loader(DataLoader[K, T]):
    """A DataLoader whose callers each await their own view of a load. graphql-core cancels the
    siblings of a failed field, and cancelling a task cancels the future it awaits: without the
    shield, that would be the load every other field asking for the same key awaits too, and
    they would fail with it."""

    def load(self, key: K) -> Awaitable[T]:
        return asyncio.shield(super().load(key))


# A student's guardians today (`Student.guardians`, and the compiled path's sub-select): the links
# in force, by name. The link's id last: one guardian linked twice lists in one order on both paths.
GUARDIANS_FROM = "guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id"
GUARDIANS_IN_FORCE = (
    "gl.starts_on <= CURRENT_DATE AND (gl.ends_on IS NULL OR gl.ends_on >= CURRENT_DATE)"
)
GUARDIANS_ORDER = "u.last_name, u.first_name, u.id, gl.id"
_GUARDIANS_SQL = text(
    "SELECT gl.student_id, gl.id AS link_id, gl.relationship,"  # noqa: S608 (names only)
    " gl.legal_guardian, gl.data_access, u.id, u.first_name, u.last_name, u.email, u.phone"
    f" FROM {GUARDIANS_FROM}"
    f" WHERE gl.student_id = ANY(:values) AND {GUARDIANS_IN_FORCE}"
    f" ORDER BY gl.student_id, {GUARDIANS_ORDER}"
)
# A student's portfolio items, oldest first (also the compiled path's order).
PORTFOLIO_ITEMS_ORDER = "created_at, id"
_TEACHERS_SQL = text(
    f"""
    SELECT ta.class_id, u.id, u.first_name, u.last_name, u.email
    FROM teaching_assignment ta JOIN app_user u ON u.id = ta.staff_user_id
    WHERE ta.class_id = ANY(:values) AND {reads.TEACHING_TODAY}
    ORDER BY ta.class_id, {reads.TEACHER_ORDER}
    """  # noqa: S608 (fragments of reads)
)
_ENROLLMENTS_SQL = text(
    f"""
    SELECT e.student_id, e.class_id, e.begins_on, e.ends_on
    FROM {reads.ENROLLMENTS_FROM}
    WHERE e.student_id = ANY(:values)
    ORDER BY e.student_id, {reads.ENROLLMENT_ORDER}
    """  # noqa: S608 (fragments of reads)
)


class Loaders:
    def __init__(self, context: Context) -> None:
        self._context = context
        self.school = self._by_id("school")
        self.term = self._by_id("term")
        self.klass = self._by_id("class_section")
        self.user = self._by_id("app_user")
        self.marks = self._grouped("mark", "student_id", "term_id, class_id")
        # A teacher's view of a student's marks: those of the classes the viewer teaches.
        self.taught_marks = self._grouped(
            "mark", "student_id", "term_id, class_id", taught_only=True
        )
        self.readiness = self._grouped("readiness_indicator", "student_id", "category, indicator")
        self.portfolio = self._by_key("portfolio", "student_id")
        self.portfolio_items = self._grouped("portfolio_item", "student_id", PORTFOLIO_ITEMS_ORDER)
        # Newest first: the first of each kind is the one in force.
        self.consents = self._grouped("consent", "student_id", "recorded_at DESC, id DESC")
        self.guardians = self._grouped_sql(_GUARDIANS_SQL, "student_id", sealed="app_user")
        self.teachers = self._grouped_sql(_TEACHERS_SQL, "class_id", sealed="app_user")
        self.enrollments = self._grouped_sql(_ENROLLMENTS_SQL, "student_id")
        self.student = Loader(load_fn=self._load_students)
        # An inspection request's bundle, by request id (`DataRequest.export`).
        self.data_export = Loader(load_fn=self._load_exports)
        self.statements = self._grouped(
            "student_statement", "student_id", "created_at DESC, id DESC"
        )
        self.audit_changes = self._grouped("audit_change", "audit_event_id", "field, id")
        self.deletion_preview = Loader(load_fn=self._load_deletion_previews)
        self._rosters: dict[tuple[int, tuple[Any, ...] | None], DataLoader[int, Rows]] = {}
        # How many students each class's roster lists (`Class.students.totalCount`).
        self.roster_count = Loader(load_fn=self._load_roster_counts)
        self._disclosures: dict[int, DataLoader[int, Rows]] = {}

    def roster(self, first: int, after: tuple[Any, ...] | None = None) -> DataLoader[int, Rows]:
        """Class rosters of `first` (+1) students after `after`; one loader, so one statement,
        per page size and position."""
        loader = self._rosters.get((first, after))
        if loader is None:

            async def load(class_ids: Sequence[int]) -> list[Rows]:
                async with self._roster_scope() as (connection, scopes):
                    rosters = await reads.class_rosters(
                        connection=connection,
                        class_ids=class_ids,
                        first=first,
                        after=after,
                        **scopes,
                    )
                return [rosters.get(class_id, []) for class_id in class_ids]

            loader = self._rosters[first, after] = Loader(load_fn=load)
        return loader

    async def _load_roster_counts(self, class_ids: Sequence[int]) -> list[int]:
        async with self._roster_scope() as (connection, scopes):
            counts = await reads.roster_counts(connection=connection, class_ids=class_ids, **scopes)
        return [counts.get(class_id, 0) for class_id in class_ids]

    @asynccontextmanager
    async def _roster_scope(self) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
        viewer = await self._context.require_viewer()
        scopes = roster_scope(self._context, viewer)
        async with self._context.db() as connection:
            yield connection, scopes

    def disclosures(self, first: int) -> DataLoader[int, Rows]:
        """The newest `first` disclosures of each student; one loader, so one statement, per
        count."""
        loader = self._disclosures.get(first)
        if loader is None:

            async def load(student_ids: Sequence[int]) -> list[Rows]:
                async with self._context.db() as connection:
                    found = await reads.recent_disclosures(
                        connection=connection, student_ids=student_ids, first=first
                    )
                return [found[i] for i in student_ids]

            loader = self._disclosures[first] = Loader(load_fn=load)
        return loader

    async def _load_students(self, ids: Sequence[int]) -> list[Row[Any] | None]:
        viewer = await self._context.require_viewer()
        async with self._context.db() as connection:
            found = await reads.students_by_id(
                connection=connection, scope=self._context.scope(viewer), ids=ids
            )
        return [found.get(i) for i in ids]

    async def _load_exports(self, request_ids: Sequence[int]) -> list[Row[Any] | None]:
        async with self._context.db() as connection:
            found = await inspect.exports_of(connection, list(request_ids))
        return [found.get(i) for i in request_ids]

    async def _load_deletion_previews(self, ids: Sequence[int]) -> list[Preview | None]:
        viewer = await self._context.require_viewer()
        async with self._context.db() as connection:
            found = await deletion_previews(connection, ids, district_id=viewer.district_id)
        return [found.get(i) for i in ids]

    def _by_id(self, table: str) -> DataLoader[int, Row[Any] | None]:
        return self._by_key(table, "id")

    def _by_key(self, table: str, key: str) -> DataLoader[int, Row[Any] | None]:
        grouped = self._grouped(table, key, "id")

        async def load(keys: Sequence[int]) -> list[Row[Any] | None]:
            rows = await grouped.load_many(keys)
            return [group[0] if group else None for group in rows]

        return Loader(load_fn=load)

    def _grouped(
        self, table: str, key: str, order: str, *, taught_only: bool = False
    ) -> DataLoader[int, Rows]:
        async def load(keys: Sequence[int]) -> list[Rows]:
            class_ids = None
            if taught_only:
                viewer = await self._context.require_viewer()
                class_ids = viewer.taught_classes
            async with self._context.db() as connection:
                grouped = await reads.rows_by_key(
                    connection=connection,
                    table=table,
                    key=key,
                    values=keys,
                    order=order,
                    class_ids=class_ids,
                )
            return [grouped[k] for k in keys]

        return Loader(load_fn=load)

    def _grouped_sql(
        self, sql: Any, key: str, *, sealed: str | None = None
    ) -> DataLoader[int, Rows]:
        """Rows of `sql`, grouped by `key`; with `sealed`, their `id` is the row of that table
        whose encrypted columns they carry (decrypted here, not by the resolvers)."""

        async def load(keys: Sequence[int]) -> list[Rows]:
            grouped: dict[int, Rows] = {k: [] for k in keys}
            async with self._context.db() as connection:
                rows = (await connection.execute(sql, {"values": list(keys)})).all()
                if sealed is not None:
                    rows = await decrypt_rows(connection, sealed, rows)
                for row in rows:
                    grouped[getattr(row, key)].append(row)
            return [grouped[k] for k in keys]

        return Loader(load_fn=load)


def roster_scope(context: Context, viewer: Viewer) -> dict[str, Any]:
    """Whose enrollments a class's roster lists, as `reads.class_rosters` and `roster_counts`
    take them. A roster reveals each student's enrollment in the class: only the students whose
    enrollment the viewer may read are on it (and counted)."""
    scope, own_scope = scope_for(context, viewer, "Class.students")
    return {"scope": scope, "own_scope": own_scope, "own_classes": viewer.taught_classes}


LoadFn = Callable[[Sequence[int]], Awaitable[list[Any]]]
