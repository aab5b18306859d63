"""Inspection requests carried out: the bundle built, kept encrypted, downloaded through a link.

Completing an INSPECT request (`resolveDataRequest`, app/rights/fulfil.py) builds the bundle of
everything held about the student (app/rights/bundle) in the resolving transaction and stores the
zip in `data_export`: base64 of it encrypted at rest, its size and SHA-256, and when the link
expires (`SCHOOLGRAPH_EXPORT_LINK_DAYS`, 14 days by default). The requester (a guardian, or the
student once their rights are their own at 18) and the district's administrators download it
with `GET /rights/exports/<token>` (app/rights_export.py); each download is recorded as a
disclosure of the whole record and audited.

The link's token. It is 32 random-looking bytes (URL-safe base64), and the database keeps only
its SHA-256 (`token_hash`): someone who reads the database, a backup or a log of its queries
cannot rebuild a link from what is stored. Rather than storing the token somewhere else for the
people allowed to see it again (`DataRequest.export.url`), the server derives it when needed:
HMAC-SHA256, under a key derived from the server's JWT secret, of the export's id and the moment
it was built. Nothing secret is stored; the token cannot be guessed without the secret; and the
secret that derives it is the one that already signs every sign-in (whoever holds it could sign in
as the requester anyway), so it widens no one's power. Changing `SCHOOLGRAPH_JWT_SECRET` ends
the links in flight with the sign-ins (their owners read the new link from `DataRequest.export`).

A link is a capability only together with a sign-in: the download also needs the bearer token of
someone allowed to download (the policy line `DataExport.download`), so a link forwarded, logged
by a proxy or left in a browser history opens nothing for anyone else.

```python
export_id = await build_export(connection, actor, request_row)
token = link_token(settings.jwt_secret, export_id, built_at)
```
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import disclosures, writes
from app.config import Settings, get_settings
from app.consent.rules import age_on
from app.encryption import DecryptionFailed, decrypt_row, writing_keyring
from app.policy import FIELD_CLASSES, CompiledPolicy, pairs_of
from app.relations import Viewer
from app.rights.bundle import build_zip, collect
from app.writes import Actor

# Where a bundle is downloaded (app/rights_export.py serves it).
PATH = "/rights/exports/{token}"
# The policy object that allows a download (policies/policy.csv).
DOWNLOAD = "DataExport.download"
# The purpose a download is recorded with in the record of disclosures.
PURPOSE = "inspection of records"
ELIGIBLE_AGE = 18
# Which relation a download is recorded under when the viewer holds several.
_BASIS_ORDER = ("self", "guardian_of", "school_official")
# The relations that download only what the viewer asked for themself.
_REQUESTER_RELATIONS = ("self", "guardian_of")

# An export, what decides who may download it (requester, student's school and birth date).
_EXPORT_COLUMNS = """x.id, x.district_id, x.data_request_id, x.student_id, x.size_bytes, x.sha256,
  x.built_at, x.expires_at, x.purged_at, r.requester_user_id, s.school_id, s.date_of_birth"""
_EXPORT_FROM = """FROM data_export x JOIN data_request r ON r.id = x.data_request_id
  JOIN student s ON s.id = x.student_id"""


class ExportCorrupted(RuntimeError):
    """A stored bundle does not match its recorded SHA-256 (never sent as it is)."""


def _link_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"schoolgraph data export link v1", hashlib.sha256).digest()


def link_token(secret: str, export_id: int, built_at: datetime) -> str:
    """The token of an export's download link (see the module's docstring)."""
    message = f"{export_id}|{built_at.astimezone(UTC).isoformat()}".encode()
    digest = hmac.new(_link_key(secret), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """What `data_export.token_hash` holds for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def build_export(
    connection: AsyncConnection,
    actor: Actor,
    request: Row[Any],
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> int:
    """Build the bundle of `request` (an INSPECT `data_request` row) and store it; its id."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    bundle = await collect(
        connection, student_id=request.student_id, generated_at=now, data_request_id=request.id
    )
    # JSON, CSV, HTML and deflate are CPU work: off the event loop.
    archive = await asyncio.to_thread(build_zip, bundle)
    sha256 = hashlib.sha256(archive).hexdigest()
    export_id = await writes._next_id(connection, "data_export")
    ring = await writing_keyring(connection)
    content = ring.encrypt(
        "data_export", "content", export_id, base64.b64encode(archive).decode("ascii")
    )
    expires_at = now + timedelta(days=settings.export_link_days)
    await connection.execute(
        text(
            "INSERT INTO data_export (id, district_id, data_request_id, student_id, token_hash,"
            " content, size_bytes, sha256, built_at, expires_at) VALUES (:id, :district_id,"
            " :request_id, :student_id, :token_hash, :content, :size, :sha256, :built_at,"
            " :expires_at)"
        ),
        {
            "id": export_id,
            "district_id": actor.district_id,
            "request_id": request.id,
            "student_id": request.student_id,
            "token_hash": token_hash(link_token(settings.jwt_secret, export_id, now)),
            "content": content,
            "size": len(archive),
            "sha256": sha256,
            "built_at": now,
            "expires_at": expires_at,
        },
    )
    await writes.audit(
        connection,
        actor,
        "build_data_export",
        "DataExport",
        export_id,
        {
            "data_request": request.id,
            "student": request.student_id,
            "size_bytes": len(archive),
            "sha256": sha256,
            "expires_at": expires_at,
        },
    )
    return export_id


async def find_export(connection: AsyncConnection, token: str) -> Row[Any] | None:
    """The export a link's token opens (with its request's requester and the student's school
    and birth date), or None."""
    row = (
        await connection.execute(
            text(f"SELECT {_EXPORT_COLUMNS}, x.content {_EXPORT_FROM} WHERE x.token_hash = :hash"),
            {"hash": token_hash(token)},
        )
    ).first()
    return None if row is None else await decrypt_row(connection, "data_export", row)


async def exports_of(connection: AsyncConnection, request_ids: list[int]) -> dict[int, Row[Any]]:
    """The newest export of each of these data requests (for `DataRequest.export`), without its
    content."""
    rows = await connection.execute(
        text(
            f"SELECT DISTINCT ON (x.data_request_id) {_EXPORT_COLUMNS}"
            f" {_EXPORT_FROM} WHERE x.data_request_id = ANY(:ids)"
            " ORDER BY x.data_request_id, x.id DESC"
        ),
        {"ids": request_ids},
    )
    return {row.data_request_id: row for row in rows}


def download_basis(
    viewer: Viewer, policy: CompiledPolicy, export: Row[Any], *, today: date | None = None
) -> str | None:
    """The relation through which `viewer` may download `export`, or None when they may not.

    The policy (`DataExport.download`) names the relations; a guardian or a student downloads
    only a bundle they asked for, while they still hold that relation (a guardian whose link
    ended, or whose child's rights moved to the child at 18, no longer does), and a student only
    once their rights are their own (18).
    """
    if viewer.district_id != export.district_id:
        return None
    today = today or datetime.now(UTC).date()
    hit = viewer.mask(export.student_id, export.school_id) & policy.mask(DOWNLOAD)
    relations = {relation for _, relation in pairs_of(hit)}
    for relation in _BASIS_ORDER:
        if relation not in relations:
            continue
        if relation in _REQUESTER_RELATIONS and viewer.user_id != export.requester_user_id:
            continue
        if relation == "self" and age_on(export.date_of_birth, today) < ELIGIBLE_AGE:
            continue
        return relation
    return None


def gone(export: Row[Any], now: datetime | None = None) -> str | None:
    """Why the export can no longer be downloaded (expired, purged), or None."""
    now = now or datetime.now(UTC)
    if export.purged_at is not None:
        return "this download was removed; ask for a new inspection of the records"
    if export.expires_at <= now:
        return (
            f"this download link expired on {export.expires_at.astimezone(UTC):%Y-%m-%d}; ask"
            " the district for a new one"
        )
    return None


def content_of(export: Row[Any]) -> bytes:
    """The zip, decrypted and checked against its recorded SHA-256."""
    try:
        archive = base64.b64decode(export.content or "", validate=True)
    except (binascii.Error, DecryptionFailed) as error:
        raise ExportCorrupted(f"data export {export.id} does not decode") from error
    if hashlib.sha256(archive).hexdigest() != export.sha256:
        raise ExportCorrupted(f"data export {export.id} does not match its SHA-256")
    return archive


async def record_download(
    connection: AsyncConnection,
    viewer: Viewer,
    export: Row[Any],
    *,
    basis: str,
    request_id: str,
    audit_key: bytes,
) -> None:
    """A download disclosed the whole record: on record (FERPA 99.32) and audited."""
    batch = disclosures.Batch()
    for field_class in FIELD_CLASSES:
        batch.add(export.student_id, field_class, basis, None, purpose=PURPOSE)
    await disclosures.write(
        connection,
        batch,
        viewer=viewer,
        request_id=request_id,
        signer=disclosures.signer_for(audit_key),
    )
    await writes.audit(
        connection,
        Actor(viewer.user_id, viewer.district_id, request_id),
        "download_data_export",
        "DataExport",
        export.id,
        {
            "data_request": export.data_request_id,
            "student": export.student_id,
            "basis": basis,
            "size_bytes": export.size_bytes,
        },
    )
