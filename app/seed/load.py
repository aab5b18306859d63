"""Writing the rows: binary COPY in the caller's transaction, columns encrypted at rest sealed on
the way, indexes and foreign keys rebuilt per table, sequences moved past the ids."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.encryption import ENCRYPTED, KEYS_SQL, Keyring, MasterKey, data_keys
from app.seed.model import TABLES, Chunk, Row, SeedError

if TYPE_CHECKING:
    from app.seed.generator import Generator

_log = logging.getLogger(__name__)


async def load(
    connection: asyncpg.Connection, make: Callable[[], Generator], *, progress: bool
) -> dict[str, int]:
    """The generator's rows (`make` builds it) in the empty database, in one transaction; the
    rows loaded per table, in load order."""
    async with connection.transaction():
        await _check_empty(connection)
        ring = Keyring.unwrap(
            MasterKey.from_settings(), data_keys(await connection.fetch(KEYS_SQL))
        )
        with _Progress(progress) as bar:
            return await _Loader(connection, bar, ring).run(make)


async def _check_empty(connection: asyncpg.Connection) -> None:
    """Refuse a database that holds a district; lock so that two seeds cannot interleave."""
    try:
        # SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with reads.
        await connection.execute("LOCK TABLE district IN SHARE ROW EXCLUSIVE MODE")
    except asyncpg.UndefinedTableError as exc:
        raise SeedError("the database has no schema yet: run `schoolgraph migrate` first") from exc
    districts = await connection.fetchval("SELECT count(*) FROM district")
    if districts:
        raise SeedError(
            f"the database already holds {districts} district(s); seed only an empty database"
            " (or run `schoolgraph seed --reset`)"
        )


class _Progress:
    """A rich progress display with one task per table, or nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.bar = (
            Progress(
                TextColumn("{task.description:<20}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            if enabled
            else None
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
            self.tasks["plan"] = self.bar.add_task("plan districts", total=1)
            for table in TABLES:
                self.tasks[table] = self.bar.add_task(table, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def total(self, name: str, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tasks[name], total=total)

    def advance(self, name: str, rows: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.tasks[name], rows)


class _Prefetch:
    """Runs the generator in a worker thread, at most `budget` rows ahead of the COPY.

    Python builds the next rows while PostgreSQL stores the previous ones. The thread shares
    the GIL with the event loop, but the loop mostly waits on the socket: encoding the COPY
    data is a small share of the Python work.
    """

    def __init__(self, produce: Callable[[], Iterator[Chunk]], budget: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Chunk | BaseException | None] = asyncio.Queue()
        self._room = threading.Condition()
        self._ahead = 0  # rows handed out and not yet consumed
        self._budget = budget
        self._closed = False
        self._thread = threading.Thread(
            target=self._work, args=(produce,), name="seed-generator", daemon=True
        )
        self._thread.start()

    def _work(self, produce: Callable[[], Iterator[Chunk]]) -> None:
        item: Chunk | BaseException | None = None
        try:
            for chunk in produce():
                with self._room:
                    while self._ahead >= self._budget and not self._closed:
                        self._room.wait()
                    if self._closed:
                        return
                    self._ahead += len(chunk.rows)
                self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)
        except BaseException as exc:  # handed to the event loop, which raises it
            item = exc
        _log.debug("generator thread: %.2f s CPU", time.thread_time())
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    async def get(self) -> Chunk | None:
        """The next chunk, or None when the generator is done."""
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def consumed(self, rows: int) -> None:
        with self._room:
            self._ahead -= rows
            self._room.notify()

    async def close(self) -> None:
        """Stop the generator (after the chunk it is building) and wait for the thread."""
        with self._room:
            self._closed = True
            self._room.notify()
        await asyncio.to_thread(self._thread.join)


@dataclass(frozen=True, slots=True)
class _ForeignKey:
    table: str
    references: str
    sql: str  # ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ...


class _Loader:
    """COPYs the generator's rows into the database inside the caller's transaction.

    Like pg_restore, it loads bare tables and builds their indexes and checks their foreign
    keys afterwards: a sorted index build and one join per foreign key cost far less than
    updating indexes and checking references row by row. Primary keys stay (other tables'
    foreign keys need them; ids arrive in order, so they append cheaply). Each table gets its
    indexes, statistics and foreign keys as soon as it and the tables it references are
    complete, while the worker thread is still generating later tables.
    """

    CHUNK = 50_000  # rows per COPY call: keeps the progress bar moving
    PREFETCH_ROWS = 1_000_000  # how far the generator may run ahead of the COPY

    def __init__(self, connection: asyncpg.Connection, progress: _Progress, ring: Keyring) -> None:
        self.connection = connection
        self.progress = progress
        self.ring = ring
        self.counts: dict[str, int] = {}
        self.complete: set[str] = set()
        self.indexes: dict[str, list[str]] = {}  # table -> statements that rebuild its indexes
        self.foreign_keys: list[_ForeignKey] = []  # not restored yet

    async def run(self, make: Callable[[], Generator]) -> dict[str, int]:
        # Bulk-load settings for this transaction only: sorts for index builds and hash joins
        # for foreign-key checks in memory, and no wait for the WAL flush at commit.
        await self.connection.execute(
            "SET LOCAL maintenance_work_mem = '256MB'; SET LOCAL work_mem = '64MB';"
            " SET LOCAL synchronous_commit = off"
        )
        started = time.perf_counter()
        feed = _Prefetch(lambda: _sealed(make().rows(), self.ring), self.PREFETCH_ROWS)
        try:
            await self._drop_foreign_keys()
            await self._drop_indexes()
            planned = False
            while (chunk := await feed.get()) is not None:
                if not planned:
                    planned = True
                    _log.debug("plan: %.2f s", time.perf_counter() - started)
                    self.progress.total("plan", 1)
                    self.progress.advance("plan", 1)
                await self._copy(chunk.table, chunk.rows)
                feed.consumed(len(chunk.rows))
                if chunk.last:
                    await self._complete(chunk.table)
        finally:
            await feed.close()
        await self._advance_sequences()
        return self.counts

    async def _advance_sequences(self) -> None:
        """Ids were assigned here: move each sequence past them for later inserts.

        Last, because setval is not transactional: a load that fails leaves them alone. (An
        empty table's max is NULL, and setval leaves its sequence alone too.)
        """
        for table in TABLES:
            await self.connection.execute(
                f"SELECT setval(pg_get_serial_sequence($1, 'id'), max(id)) FROM {_quote(table)}",  # noqa: S608 (one of TABLES)
                table,
            )

    async def _copy(self, table: str, rows: list[Row]) -> None:
        copied = self.counts.get(table, 0)
        self.counts[table] = copied + len(rows)
        self.progress.total(table, copied + len(rows))
        if not rows:
            return
        started = time.perf_counter()
        for start in range(0, len(rows), self.CHUNK):
            chunk = rows[start : start + self.CHUNK]
            await self.connection.copy_records_to_table(table, records=chunk, columns=TABLES[table])
            self.progress.advance(table, len(chunk))
        _log.debug("copy %s: %d rows, %.2f s", table, len(rows), time.perf_counter() - started)

    async def _complete(self, table: str) -> None:
        """The table holds all its rows: indexes, statistics, then foreign keys."""
        started = time.perf_counter()
        self.complete.add(table)
        for statement in self.indexes.pop(table, []):
            await self.connection.execute(statement)
        await self.connection.execute(f"ANALYZE {_quote(table)}")
        ready = [
            fk
            for fk in self.foreign_keys
            if fk.table in self.complete
            and (fk.references in self.complete or fk.references not in TABLES)
        ]
        for fk in ready:
            await self.connection.execute(fk.sql)
            self.foreign_keys.remove(fk)
        _log.debug("complete %s: %.2f s", table, time.perf_counter() - started)

    async def _drop_foreign_keys(self) -> None:
        """Foreign keys of the seeded tables, dropped for the load and restored after it.

        It all happens inside the seed's transaction: other sessions never see the constraints
        missing.
        """
        rows = await self.connection.fetch(
            """
            SELECT t.relname AS table, r.relname AS references,
                   format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname)
                       AS drop,
                   format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
                          pg_get_constraintdef(c.oid)) AS add
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_class r ON r.oid = c.confrelid
            WHERE c.contype = 'f' AND c.conrelid = ANY($1::regclass[])
            ORDER BY t.relname, c.conname
            """,
            list(TABLES),
        )
        for row in rows:
            await self.connection.execute(row["drop"])
            self.foreign_keys.append(_ForeignKey(row["table"], row["references"], row["add"]))

    async def _drop_indexes(self) -> None:
        """Every index of the seeded tables but the primary keys and those that foreign keys of
        other tables rely on; unique constraints are dropped and re-added as constraints."""
        rows = await self.connection.fetch(
            """
            SELECT t.relname AS table,
                   CASE WHEN c.oid IS NULL
                        THEN format('DROP INDEX %s', i.indexrelid::regclass)
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I', i.indrelid::regclass,
                                    c.conname)
                   END AS drop,
                   CASE WHEN c.oid IS NULL
                        THEN pg_get_indexdef(i.indexrelid)
                        ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass,
                                    c.conname, pg_get_constraintdef(c.oid))
                   END AS add
            FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_class x ON x.oid = i.indexrelid
            LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                                     AND c.contype IN ('p', 'u', 'x')
            WHERE i.indrelid = ANY($1::regclass[]) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT FROM pg_constraint f
                              WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
            ORDER BY t.relname, x.relname
            """,
            list(TABLES),
        )
        for row in rows:
            await self.connection.execute(row["drop"])
            self.indexes.setdefault(row["table"], []).append(row["add"])


def _sealed(chunks: Iterator[Chunk], ring: Keyring) -> Iterator[Chunk]:
    """The chunks with their columns encrypted at rest encrypted (in the generator's thread,
    off the event loop that feeds the COPY)."""
    for chunk in chunks:
        if chunk.table in ENCRYPTED:
            chunk = Chunk(
                chunk.table,
                ring.seal_rows(chunk.table, TABLES[chunk.table], chunk.rows),
                chunk.last,
            )
        yield chunk


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
