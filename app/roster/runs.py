"""The record of roster imports run over HTTP (`roster_import`), and reading it back.

    run_id = await record_run(connection, district_id=1, user_id=7, report=report, started_at=t)
    rows = await list_runs(connection, district_id=1, first=50, after=None)

Messages are kept as `file:line: column: message`, at most `KEPT` of each severity; the totals
count them all.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.roster.messages import ERROR, WARNING
from app.roster.report import ImportReport

KEPT = 100

APPLIED = "applied"
VALIDATED = "validated"
FAILED = "failed"


def status_of(report: ImportReport) -> str:
    if not report.ok:
        return FAILED
    return VALIDATED if report.dry_run else APPLIED


def messages_of(report: ImportReport, severity: str) -> list[str]:
    return [str(m) for m in report.messages.shown if m.severity == severity][:KEPT]


async def record_run(
    connection: AsyncConnection,
    *,
    district_id: int,
    user_id: int,
    report: ImportReport,
    started_at: datetime.datetime,
) -> int:
    row = await connection.execute(
        text(
            "INSERT INTO roster_import (district_id, user_id, started_at, finished_at, dry_run,"
            " status, version, counts, errors_total, warnings_total, errors, warnings)"
            " VALUES (:district_id, :user_id, :started_at, now(), :dry_run, :status, :version,"
            " CAST(:counts AS jsonb), :errors_total, :warnings_total, :errors, :warnings)"
            " RETURNING id"
        ),
        {
            "district_id": district_id,
            "user_id": user_id,
            "started_at": started_at,
            "dry_run": report.dry_run,
            "status": status_of(report),
            "version": report.version,
            "counts": json.dumps(report.totals()),
            "errors_total": report.messages.errors_total,
            "warnings_total": report.messages.warnings_total,
            "errors": messages_of(report, ERROR),
            "warnings": messages_of(report, WARNING),
        },
    )
    return int(row.scalar_one())


async def list_runs(
    connection: AsyncConnection, *, district_id: int, first: int, after: int | None
) -> Sequence[Row[Any]]:
    """The district's runs, newest first: `first + 1` rows after the run `after` (an id)."""
    result = await connection.execute(
        text(
            "SELECT r.id, r.user_id, r.started_at, r.finished_at, r.dry_run, r.status, r.version,"
            " r.counts, r.errors_total, r.warnings_total, r.errors, r.warnings"
            " FROM roster_import r WHERE r.district_id = :district_id"
            " AND (CAST(:after AS bigint) IS NULL OR r.id < :after)"
            " ORDER BY r.id DESC LIMIT :limit"
        ),
        {"district_id": district_id, "after": after, "limit": first + 1},
    )
    return result.fetchall()


async def count_runs(connection: AsyncConnection, *, district_id: int) -> int:
    result = await connection.execute(
        text("SELECT count(*) FROM roster_import WHERE district_id = :district_id"),
        {"district_id": district_id},
    )
    return int(result.scalar_one())
