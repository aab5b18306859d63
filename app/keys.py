"""Key management for encryption at rest: `schoolgraph keys status|rotate|retire|rewrap`.

    await rotate(engine)                 # a new data key; every value re-encrypted under it
    await retire(engine)                 # wrapped keys no value uses any more are destroyed
    await rewrap(engine, new_master)     # the data keys wrapped by a new master key

Rotation re-encrypts in batches of rows, each batch its own short transaction that locks only
its rows, so requests go on meanwhile: a value is either under the old key or the new one, and
both stay in the keyring until `retire`. It is resumable: a batch skips values already under the
current key, so an interrupted run is finished by `keys rotate --resume`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.encryption import (
    ENCRYPTED,
    KEY_BYTES,
    KEYS_SQL,
    EncryptionError,
    Keyring,
    MasterKey,
    data_keys,
    forget_keyring,
    load_keyring,
)

BATCH = 2000  # rows per transaction: long enough to be cheap, short enough to lock briefly
# One rotation at a time (a session-level advisory lock; the number is arbitrary but fixed).
_ROTATION_LOCK = 0x5C_6B_65_79

Progress = Callable[[str, int, int], None]  # (table, values done, values in the table)


def _key_sql(column: str) -> str:
    """The data key id of an encrypted value, in SQL (bytes 2-5 of the versioned format)."""
    return f"substring({column} from 2 for 4)"


def _key_bytes(key_id: int) -> bytes:
    return struct.pack(">I", key_id)


@dataclass(frozen=True)
class KeyStatus:
    id: int
    created_at: Any
    retired_at: Any
    values: int  # values under this key, all encrypted columns together
    current: bool


async def status(engine: AsyncEngine) -> list[KeyStatus]:
    """Every data key, with how many values are under it."""
    async with engine.connect() as connection:
        keys = (
            await connection.execute(
                text("SELECT id, created_at, retired_at FROM data_key ORDER BY id")
            )
        ).all()
        counts: dict[bytes, int] = {}
        for table, columns in ENCRYPTED.items():
            for column in columns:
                sql = (
                    f"SELECT {_key_sql(column)} AS k, count(*) AS n FROM {table}"  # noqa: S608 (constants)
                    f" WHERE {column} IS NOT NULL GROUP BY 1"
                )
                for row in await connection.execute(text(sql)):
                    counts[bytes(row.k)] = counts.get(bytes(row.k), 0) + int(row.n)
    live = [k.id for k in keys if k.retired_at is None]
    return [
        KeyStatus(
            k.id, k.created_at, k.retired_at, counts.get(_key_bytes(k.id), 0), k.id == max(live)
        )
        for k in keys
    ]


async def _count_values(connection: AsyncConnection, table: str) -> int:
    counts = " + ".join(f"count({c})" for c in ENCRYPTED[table])
    sql = f"SELECT {counts} FROM {table}"  # noqa: S608 (constants)
    return int((await connection.execute(text(sql))).scalar_one())


async def new_data_key(engine: AsyncEngine, master: MasterKey | None = None) -> int:
    """Make a new data key the current one; returns its id."""
    master = master or MasterKey.from_settings()
    async with engine.begin() as connection:
        await connection.execute(text("LOCK TABLE data_key IN EXCLUSIVE MODE"))
        key_id = int(
            (
                await connection.execute(text("SELECT coalesce(max(id), 0) + 1 FROM data_key"))
            ).scalar_one()
        )
        await connection.execute(
            text("INSERT INTO data_key (id, wrapped, master_fingerprint) VALUES (:id, :w, :f)"),
            {
                "id": key_id,
                "w": master.wrap(key_id, os.urandom(KEY_BYTES)),
                "f": master.fingerprint,
            },
        )
    forget_keyring()
    return key_id


async def _rotate_batch(
    connection: AsyncConnection, ring: Keyring, table: str, after: int
) -> tuple[int, int, int]:
    """Re-encrypt the values of the next `BATCH` rows after id `after` that are under an older
    key: (last id seen, rows seen, values re-encrypted)."""
    columns = ENCRYPTED[table]
    current = _key_bytes(ring.current)
    stale = " OR ".join(f"({c} IS NOT NULL AND {_key_sql(c)} <> :current)" for c in columns)
    rows = (
        await connection.execute(
            text(
                f"SELECT id, {', '.join(columns)} FROM {table}"  # noqa: S608 (constants)
                f" WHERE id > :after AND ({stale}) ORDER BY id LIMIT :batch FOR UPDATE"
            ),
            {"after": after, "current": current, "batch": BATCH},
        )
    ).all()
    if not rows:
        return after, 0, 0
    ids: list[int] = []
    new: dict[str, list[bytes | None]] = {c: [] for c in columns}
    changed = 0
    for row in rows:
        ids.append(row.id)
        for column in columns:
            blob = getattr(row, column)
            value = None
            if blob is not None and ring.key_of(bytes(blob)) != ring.current:
                plain = ring.decrypt(table, column, row.id, blob)
                value = ring.encrypt(table, column, row.id, plain)
                changed += 1
            new[column].append(value)
    sets = ", ".join(f"{c} = coalesce(v.{c}, t.{c})" for c in columns)
    arrays = ", ".join(f"CAST(:{c} AS bytea[])" for c in columns)
    await connection.execute(
        text(
            f"UPDATE {table} AS t SET {sets}"  # noqa: S608 (constants)
            f" FROM unnest(CAST(:ids AS bigint[]), {arrays}) AS v(id, {', '.join(columns)})"
            " WHERE t.id = v.id"
        ),
        {"ids": ids, **new},
    )
    return int(rows[-1].id), len(rows), changed


async def reencrypt(engine: AsyncEngine, progress: Progress | None = None) -> int:
    """Re-encrypt every value under an older data key with the current one; returns how many.

    Passes over every table until one finds nothing left: a write that was encrypting under the
    old key while the key changed is caught by the next pass.
    """
    total = 0
    while True:
        async with engine.connect() as connection:
            ring = await load_keyring(connection)
        changed_in_pass = 0
        for table in ENCRYPTED:
            async with engine.connect() as connection:
                values = await _count_values(connection, table)
            done, after = 0, 0
            if progress:
                progress(table, 0, values)
            while True:
                async with engine.begin() as connection:
                    after, seen, changed = await _rotate_batch(connection, ring, table, after)
                if not seen:
                    break
                done += changed
                changed_in_pass += changed
                if progress:
                    progress(table, min(done, values), values)
            if progress:
                progress(table, values, values)
        total += changed_in_pass
        if not changed_in_pass:
            return total


async def rotate(
    engine: AsyncEngine, *, resume: bool = False, progress: Progress | None = None
) -> tuple[int, int]:
    """A new current data key (unless `resume`), then every value re-encrypted under it:
    (current key id, values re-encrypted)."""
    async with engine.connect() as lock:
        got = (
            await lock.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ROTATION_LOCK})
        ).scalar_one()
        await lock.commit()
        if not got:
            raise EncryptionError("another `keys rotate` is running")
        try:
            key_id = None if resume else await new_data_key(engine)
            changed = await reencrypt(engine, progress)
            if key_id is None:
                async with engine.connect() as connection:
                    key_id = (await load_keyring(connection)).current
            return key_id, changed
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ROTATION_LOCK})
            await lock.commit()


async def retire(engine: AsyncEngine) -> list[int]:
    """Destroy the wrapped data keys (but the current one) that no value is under; returns their
    ids. A key some value still uses is kept: run `keys rotate --resume` first."""
    retired = []
    for key in await status(engine):
        if key.retired_at is not None or key.current or key.values:
            continue
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE data_key SET wrapped = ''::bytea, retired_at = now()"
                    " WHERE id = :id AND retired_at IS NULL"
                ),
                {"id": key.id},
            )
        retired.append(key.id)
    forget_keyring()
    return retired


async def rewrap(
    engine: AsyncEngine, new_master: MasterKey, old_master: MasterKey | None = None
) -> int:
    """Wrap every live data key with `new_master` instead of the configured master key, in one
    transaction; returns how many. The values themselves are untouched."""
    old_master = old_master or MasterKey.from_settings()
    async with engine.begin() as connection:
        await connection.execute(text("LOCK TABLE data_key IN EXCLUSIVE MODE"))
        keys = data_keys((await connection.execute(text(KEYS_SQL))).all())
        for key in keys:
            data_key = old_master.unwrap(key.id, key.wrapped, key.fingerprint)
            await connection.execute(
                text("UPDATE data_key SET wrapped = :w, master_fingerprint = :f WHERE id = :id"),
                {"id": key.id, "w": new_master.wrap(key.id, data_key), "f": new_master.fingerprint},
            )
    forget_keyring()
    return len(keys)
