"""Encryption at rest: AES-256-GCM values under envelope keys (docs/encryption.md).

A master key (the key-encryption key) comes from the environment or a file, never the database.
It wraps the data keys kept in `data_key`; each stored value names the data key it is under:

    version (1 byte) | data key id (4 bytes, big-endian) | nonce (12 bytes) | ciphertext + tag

The associated data binds the value to its table, column and row, so a ciphertext copied to
another row (or column) fails to decrypt instead of showing the other row's text.

    ring = await keyring(connection)                      # data keys, unwrapped, cached
    blob = ring.encrypt("mark", "comment", 42, "Strong quiz")
    ring.decrypt("mark", "comment", 42, blob)             # 'Strong quiz'
    rows = await decrypt_rows(connection, "mark", rows)   # what the data layer hands on
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.database import cached_text

_log = logging.getLogger("schoolgraph.encryption")

# The encrypted columns of each table (bytea in the database). Encrypting another column is one
# entry here plus the migration that turns it into bytea and encrypts what it holds.
ENCRYPTED: Mapping[str, tuple[str, ...]] = {
    "app_user": ("email", "phone", "totp_secret"),
    "student": ("email", "phone"),
    "mark": ("comment",),
    "portfolio": ("headline",),
    "portfolio_item": ("title", "body"),
    "data_request": ("details", "resolution", "changes"),
    "student_statement": ("body",),
    "data_export": ("content",),  # the zip, base64
    "audit_change": ("before", "after"),
}

VERSION = 1
_HEADER = struct.Struct(">BI")  # version, data key id
NONCE_BYTES = 12
HEADER_BYTES = _HEADER.size + NONCE_BYTES
KEY_BYTES = 32  # AES-256


class EncryptionError(RuntimeError):
    """The keys are missing or do not fit the database: a setup problem, said plainly."""


class DecryptionFailed(Exception):
    """A stored value did not decrypt (wrong key, tampered or moved): never shown as text.

    The message names no content; the GraphQL layer masks it like any unexpected error.
    """


def parse_master_key(text: str, source: str) -> bytes:
    """A master key written as base64 (standard or URL-safe) of 32 random bytes."""
    raw = text.strip()
    try:
        standard = raw.replace("-", "+").replace("_", "/")
        key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise EncryptionError(f"{source} is not base64: {error}") from None
    if len(key) != KEY_BYTES:
        raise EncryptionError(
            f"{source} must be {KEY_BYTES} random bytes in base64 (got {len(key)} bytes);"
            " `schoolgraph keys generate` prints one"
        )
    return key


def new_master_key_text() -> str:
    """A fresh master key, as `SCHOOLGRAPH_ENCRYPTION_KEY` takes it."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True)
class MasterKey:
    """The key-encryption key: wraps and unwraps data keys, and nothing else."""

    key: bytes

    @classmethod
    def from_settings(cls) -> MasterKey:
        from app.config import get_settings

        return cls(parse_master_key(get_settings().encryption_key, "the encryption key"))

    @property
    def fingerprint(self) -> str:
        """Names the key without revealing it: stored beside each data key it wraps, so a wrong
        master key is told apart from a damaged data key."""
        return hmac.new(
            self.key, b"schoolgraph master key fingerprint", hashlib.sha256
        ).hexdigest()[:16]

    def wrap(self, key_id: int, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, data_key, _wrap_aad(key_id))

    def unwrap(self, key_id: int, wrapped: bytes, fingerprint: str) -> bytes:
        if fingerprint != self.fingerprint:
            raise EncryptionError(
                f"the encryption key (fingerprint {self.fingerprint}) is not the one that wrapped"
                f" data key {key_id} (fingerprint {fingerprint}): set SCHOOLGRAPH_ENCRYPTION_KEY"
                " or SCHOOLGRAPH_ENCRYPTION_KEY_FILE to the key this database was encrypted with"
            )
        try:
            return AESGCM(self.key).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(key_id)
            )
        except InvalidTag:
            raise EncryptionError(f"data key {key_id} does not unwrap: it was altered") from None


def _wrap_aad(key_id: int) -> bytes:
    return b"schoolgraph data key " + struct.pack(">I", key_id)


def _aad(header: bytes, table: str, column: str, row_id: int) -> bytes:
    return header + f"|{table}.{column}|{row_id}".encode()


@dataclass(frozen=True)
class DataKey:
    id: int
    wrapped: bytes
    fingerprint: str


class Keyring:
    """The unwrapped data keys of one database; `current` encrypts, any of them decrypts."""

    def __init__(self, keys: Mapping[int, bytes], current: int):
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current

    @classmethod
    def unwrap(cls, master: MasterKey, keys: Sequence[DataKey]) -> Keyring:
        if not keys:
            raise EncryptionError("the database has no data key: run `schoolgraph migrate`")
        return cls(
            {k.id: master.unwrap(k.id, k.wrapped, k.fingerprint) for k in keys},
            max(k.id for k in keys),
        )

    def encrypt(self, table: str, column: str, row_id: int, value: str | None) -> bytes | None:
        if value is None:
            return None
        header = _HEADER.pack(VERSION, self.current)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(
            nonce, value.encode(), _aad(header, table, column, row_id)
        )
        return header + nonce + sealed

    def key_of(self, blob: bytes) -> int:
        """The id of the data key `blob` is under."""
        if len(blob) < HEADER_BYTES or blob[0] != VERSION:
            raise DecryptionFailed("not an encrypted value")
        return int(_HEADER.unpack_from(blob)[1])

    def has(self, key_id: int) -> bool:
        return key_id in self._ciphers

    def decrypt(self, table: str, column: str, row_id: int, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        blob = bytes(blob)
        key_id = self.key_of(blob)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionFailed(f"data key {key_id} is not in the keyring")
        header, nonce = blob[: _HEADER.size], blob[_HEADER.size : HEADER_BYTES]
        try:
            plain = cipher.decrypt(nonce, blob[HEADER_BYTES:], _aad(header, table, column, row_id))
        except InvalidTag:
            raise DecryptionFailed(
                f"{table}.{column} of row {row_id} does not decrypt under data key {key_id}"
            ) from None
        return plain.decode()

    def seal_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """Rows of `table` laid out as `columns` (an `id` among them), encrypted columns sealed:
        for bulk loads. The same format as `encrypt`, made with less work per value (one
        random read for all the nonces, the associated data's prefix made once per column)."""
        at = columns.index("id")
        header = _HEADER.pack(VERSION, self.current)
        seal = self._ciphers[self.current].encrypt
        sealed = [
            (i, header + f"|{table}.{name}|".encode())
            for i, name in enumerate(columns)
            if name in ENCRYPTED[table]
        ]
        nonces = os.urandom(NONCE_BYTES * len(rows) * len(sealed))
        n = 0
        out = []
        for row in rows:
            values = list(row)
            row_id = str(values[at]).encode()
            for i, prefix in sealed:
                value = values[i]
                if value is not None:
                    nonce = nonces[n : n + NONCE_BYTES]
                    values[i] = header + nonce + seal(nonce, value.encode(), prefix + row_id)
                n += NONCE_BYTES
            out.append(tuple(values))
        return out

    def encrypt_row(self, table: str, row_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` with the table's encrypted columns among them encrypted for row `row_id`."""
        columns = ENCRYPTED[table]
        return {
            name: self.encrypt(table, name, row_id, value) if name in columns else value
            for name, value in values.items()
        }


# --- the process's keyring ---------------------------------------------------------------------

_ring: Keyring | None = None

KEYS_SQL = (
    "SELECT id, wrapped, master_fingerprint FROM data_key WHERE retired_at IS NULL ORDER BY id"
)
_CURRENT_SQL = "SELECT max(id) FROM data_key WHERE retired_at IS NULL"


def data_keys(rows: Iterable[Any]) -> list[DataKey]:
    return [DataKey(int(r[0]), bytes(r[1]), str(r[2])) for r in rows]


async def load_keyring(connection: AsyncConnection, master: MasterKey | None = None) -> Keyring:
    """The database's data keys, unwrapped with `master` (the configured key by default)."""
    rows = (await connection.execute(cached_text(KEYS_SQL))).all()
    return Keyring.unwrap(master or MasterKey.from_settings(), data_keys(rows))


async def keyring(connection: AsyncConnection, *, fresh: bool = False) -> Keyring:
    """This process's keyring, loaded on first use (or when `fresh`) from the connection's
    database."""
    global _ring
    if _ring is None or fresh:
        _ring = await load_keyring(connection)
    return _ring


async def writing_keyring(connection: AsyncConnection) -> Keyring:
    """The keyring to encrypt with: its current key is the database's current key.

    One small look-up per write: a `keys rotate` run by another process is followed at once, so
    nothing is written under a key the rotation has already left behind.
    """
    ring = await keyring(connection)
    current = (await connection.execute(cached_text(_CURRENT_SQL))).scalar()
    if ring.current != current:
        ring = await keyring(connection, fresh=True)
    return ring


async def check_keys(engine: AsyncEngine) -> None:
    """At server start: a malformed or wrong master key stops the server with its reason,
    rather than failing every read. A database that is not reachable yet is left to the first
    request (the keys load then)."""
    master = MasterKey.from_settings()
    try:
        async with engine.connect() as connection:
            await keyring(connection, fresh=True)
    except EncryptionError:
        raise
    except Exception as error:
        # Unreachable or not migrated yet: other checks say so; the keys load on first use.
        _log.warning("data keys not loaded at start (%s); they load on first use", error)
    _log.info("encryption at rest: master key %s", master.fingerprint)


def forget_keyring() -> None:
    """Drop the cached keyring (tests that change the keys; a process that changes master key)."""
    global _ring
    _ring = None


# --- rows --------------------------------------------------------------------------------------


_MISSING = object()


class SealedRow:
    """A row whose encrypted columns decrypt when first read: what no resolver shows (a field
    the viewer may not see, or did not ask for) is never decrypted, and costs nothing.

    Attribute access like the `Row` it wraps; a value that does not decrypt raises
    `DecryptionFailed` (logged here with where it failed) and is never shown as text.
    """

    __slots__ = ("_plain", "_ring", "_row", "_row_id", "_table")

    def __init__(self, row: Row[Any], ring: Keyring, table: str, row_id: int) -> None:
        self._row, self._ring, self._table, self._row_id = row, ring, table, row_id
        self._plain: dict[str, str | None] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._row, name)
        if name not in ENCRYPTED[self._table]:
            return value
        plain = self._plain.get(name, _MISSING)
        if plain is _MISSING:
            try:
                plain = self._ring.decrypt(self._table, name, self._row_id, value)
            except DecryptionFailed as error:
                _log.error("decryption failed: %s", error)
                raise
            self._plain[name] = plain
        return plain

    def __repr__(self) -> str:
        return f"SealedRow({self._table} {self._row_id})"


def _unknown_key(ring: Keyring, blob: bytes | None) -> bool:
    """Whether `blob` is under a data key the ring lacks (a malformed value is left to fail
    when read)."""
    if blob is None or len(blob) < HEADER_BYTES or blob[0] != VERSION:
        return False
    return not ring.has(int.from_bytes(blob[1:5], "big"))


async def decrypt_rows(
    connection: AsyncConnection, table: str, rows: Sequence[Row[Any]], *, key: str = "id"
) -> list[Row[Any]]:
    """`rows` of `table` whose encrypted columns read as plain text; `key` names the row id.

    A value under a data key this process has not loaded (a rotation by another process) reloads
    the keyring first; decryption itself happens when a column is read (`SealedRow`).
    """
    if not rows:
        return []
    columns = [name for name in ENCRYPTED[table] if name in rows[0]._fields]
    if not columns:
        return list(rows)
    ring = await keyring(connection)
    if any(_unknown_key(ring, getattr(row, name)) for row in rows for name in columns):
        ring = await keyring(connection, fresh=True)
    return [cast(Row[Any], SealedRow(row, ring, table, getattr(row, key))) for row in rows]


async def decrypt_row(
    connection: AsyncConnection, table: str, row: Row[Any], *, key: str = "id"
) -> Row[Any]:
    return (await decrypt_rows(connection, table, [row], key=key))[0]
