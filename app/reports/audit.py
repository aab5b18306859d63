"""The record of every report run (SPEC §8)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.relations import Viewer
from app.reports.compute import Report


async def audit_run(
    connection: AsyncConnection,
    *,
    viewer: Viewer,
    report: Report,
    request_id: str,
    channel: str,
    saved_report_id: int | None = None,
) -> None:
    """Record who ran which report, over what, and how much of it was withheld."""
    details = {
        **report.spec.to_json(),
        "channel": channel,
        "window": [d.isoformat() for d in report.window] if report.window else None,
        "cells": len(report.cells),
        "suppressed": sum(c.suppressed for c in report.cells),
        "minCellSize": report.min_cell_size,
    }
    await writes.audit(
        connection,
        writes.Actor(viewer.user_id, viewer.district_id, request_id),
        "report.run",
        "saved_report" if saved_report_id is not None else "report",
        saved_report_id,
        details,
    )
