"""Signed checkpoints of the record of disclosures, kept outside the database.

A checkpoint names a district's newest seal — its id, last disclosure id, row count and head
hash — and is signed with a key derived from the audit key. It is a file in
`SCHOOLGRAPH_CHECKPOINT_DIR/<database>-<oid>/district-<id>.json` (the database's name and oid, so
a database dropped and made anew, as the tests do, starts a series of its own). Whoever owns the
database can delete the newest rows together with the seals that cover them and leave a chain
that is consistent but short; the checkpoint, which they cannot change or sign, still names what
was there. `audit verify` reads every checkpoint of the database.

A checkpoint is replaced only by one that extends it: if the seal the old file names is gone or
changed, the file is kept and the writer reports the break (`CheckpointConflict`). An object store
with retention (write once) is the stronger place for them; a directory is what exists today.

    >>> folder = Path("/var/lib/schoolgraph/checkpoints")
    >>> await write_checkpoints(connection, audit_key=key, directory=folder)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.seals import Verification

_FIELDS = ("database", "district_id", "seal_id", "horizon", "total_rows", "last_id", "head_hash")


class CheckpointConflict(Exception):
    """The checkpoint on file names a seal the database no longer holds as it was."""


def _sign(audit_key: bytes, checkpoint: dict[str, Any]) -> str:
    key = hmac.new(audit_key, b"schoolgraph checkpoint v1", hashlib.sha256).digest()
    encoded = json.dumps([checkpoint[f] for f in _FIELDS], separators=(",", ":")).encode()
    return hmac.new(key, encoded, hashlib.sha256).hexdigest()


async def database_directory(connection: AsyncConnection, base: Path) -> tuple[str, Path]:
    """(database name, this database's checkpoint directory under `base`)."""
    row = (
        await connection.execute(
            text(
                "SELECT current_database() AS name, oid FROM pg_database"
                " WHERE datname = current_database()"
            )
        )
    ).one()
    return row.name, base / f"{row.name}-{row.oid}"


@dataclass(frozen=True)
class Written:
    district_id: int
    path: Path
    seal_id: int
    total_rows: int


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_LATEST_SEALS = text(
    "SELECT DISTINCT ON (district_id) id, district_id, horizon, total_rows, last_id, hash"
    " FROM disclosure_seal ORDER BY district_id, id DESC"
)
_SEAL = text("SELECT hash, total_rows FROM disclosure_seal WHERE id = :id AND district_id = :d")


async def write_checkpoints(
    connection: AsyncConnection, *, audit_key: bytes, directory: Path
) -> list[Written]:
    """Write (or extend) one checkpoint per sealed district. Raises `CheckpointConflict` naming
    the districts whose checkpoint on file the database no longer matches (the others are
    written)."""
    name, folder = await database_directory(connection, directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Written] = []
    conflicts: list[str] = []
    for seal in (await connection.execute(_LATEST_SEALS)).all():
        path = folder / f"district-{seal.district_id}.json"
        old = _read(path) if path.exists() else None
        if path.exists():
            if old is None or not _has_fields(old) or old.get("signature") != _sign(audit_key, old):
                conflicts.append(f"{path} is not a checkpoint signed with this key: kept it")
                continue
            held = (
                await connection.execute(_SEAL, {"id": old["seal_id"], "d": seal.district_id})
            ).one_or_none()
            if held is None or held.hash != old["head_hash"]:
                conflicts.append(
                    f"district {seal.district_id}: seal {old['seal_id']} of the checkpoint on"
                    " file is no longer in the database as it was: kept the old checkpoint"
                )
                continue
            if old["seal_id"] == seal.id:
                continue
        checkpoint = {
            "database": name,
            "district_id": seal.district_id,
            "seal_id": seal.id,
            "horizon": seal.horizon,
            "total_rows": seal.total_rows,
            "last_id": seal.last_id,
            "head_hash": seal.hash,
        }
        checkpoint["written_at"] = datetime.now(UTC).isoformat()
        checkpoint["signature"] = _sign(audit_key, checkpoint)
        # Write then rename: a reader never sees half a file, and a crash leaves the old one.
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(checkpoint, indent=2) + "\n")
        os.replace(temporary, path)
        written.append(Written(seal.district_id, path, seal.id, seal.total_rows))
    if conflicts:
        raise CheckpointConflict("; ".join(conflicts))
    return written


def _has_fields(data: dict[str, Any]) -> bool:
    return all(f in data for f in _FIELDS)


async def verify_checkpoints(
    connection: AsyncConnection,
    *,
    audit_key: bytes,
    directory: Path,
    seals: dict[int, list[Any]],
    out: Verification,
) -> None:
    """Compare every checkpoint of this database with the seals it holds."""
    _, folder = await database_directory(connection, directory)
    for path in sorted(folder.glob("district-*.json")) if folder.is_dir() else []:
        data = _read(path)
        if data is None or not _has_fields(data) or data.get("signature") != _sign(audit_key, data):
            out.problems.append(f"checkpoint {path} is unreadable or not signed with this key")
            continue
        out.checkpoints += 1
        district_seals = {s["id"]: s for s in seals.get(data["district_id"], [])}
        seal = district_seals.get(data["seal_id"])
        what = (
            f"district {data['district_id']}: the checkpoint of {data['written_at']} names seal"
            f" {data['seal_id']} ({data['total_rows']:,} rows, up to disclosure {data['last_id']})"
        )
        if seal is None:
            out.problems.append(
                f"{what}, which the database no longer holds: sealed disclosures were deleted"
            )
        elif (seal["hash"], seal["total_rows"], seal["last_id"]) != (
            data["head_hash"],
            data["total_rows"],
            data["last_id"],
        ):
            out.problems.append(f"{what}, which the database holds changed")
