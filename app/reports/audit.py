"""The record of every report run (SPEC §8)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.relations import RowScope, Viewer
from app.reports.compute import Report, run
from app.reports.definitions import ReportSpec


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


async def run_audited(
    connection: AsyncConnection,
    *,
    spec: ReportSpec,
    scope: RowScope,
    viewer: Viewer,
    request_id: str,
    channel: str,
    saved_report_id: int | None = None,
) -> Report:
    """Run a report (`InvalidReport` when it cannot be) and record the run, for every channel
    (GraphQL, the CSV export)."""
    report = await run(connection=connection, spec=spec, scope=scope)
    await audit_run(
        connection,
        viewer=viewer,
        report=report,
        request_id=request_id,
        channel=channel,
        saved_report_id=saved_report_id,
    )
    return report
