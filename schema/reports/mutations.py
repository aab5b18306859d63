"""`saveReport` and `deleteReport`: report views shared within the district, audited."""

from __future__ import annotations

import strawberry

from app import reports, writes
from schema.context import Info
from schema.errors import UserError
from schema.relay import from_global_id
from schema.reports.queries import require_report_scope
from schema.reports.types import (
    ReportDimension,
    ReportFilter,
    ReportMetric,
    SavedReport,
    to_spec,
)


@strawberry.input
class SaveReportInput:
    name: str = strawberry.field(description="Unique in the district.")
    metric: ReportMetric
    group_by: list[ReportDimension] = strawberry.field(default_factory=list)
    filter: ReportFilter | None = None


@strawberry.input
class DeleteReportInput:
    id: strawberry.ID


@strawberry.type
class SaveReportPayload:
    saved_report: SavedReport | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteReportPayload:
    saved_report: SavedReport | None = strawberry.field(
        default=None, description="The report as it was."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _invalid(error: reports.InvalidReport) -> UserError:
    return UserError(message=str(error), code="INVALID", field=error.field or None)


@strawberry.type
class ReportMutation:
    @strawberry.mutation(
        description="Keep a report definition under a name, for everyone in the district who "
        "runs reports; each runs it within their own scope."
    )
    async def save_report(self, info: Info, input: SaveReportInput) -> SaveReportPayload:
        context = info.context
        viewer = await context.require_viewer()
        require_report_scope(context, viewer)
        try:
            spec = to_spec(input.metric, input.group_by, input.filter)
        except reports.InvalidReport as exc:
            return SaveReportPayload(user_errors=[_invalid(exc)])
        try:
            async with context.db() as connection:
                row = await reports.save_report(
                    connection=connection,
                    viewer=viewer,
                    name=input.name,
                    spec=spec,
                    request_id=context.request_id,
                )
        except writes.WriteRefused as refusal:
            return SaveReportPayload(user_errors=[UserError.of(refusal)])
        return SaveReportPayload(saved_report=SavedReport.from_row(row))

    @strawberry.mutation(
        description="Delete a saved report view: its author may, and district-wide report users."
    )
    async def delete_report(self, info: Info, input: DeleteReportInput) -> DeleteReportPayload:
        context = info.context
        viewer = await context.require_viewer()
        require_report_scope(context, viewer)
        _, pk = from_global_id(input.id, "SavedReport")
        try:
            async with context.db() as connection:
                row = await reports.delete_report(
                    connection=connection, viewer=viewer, saved_id=pk, request_id=context.request_id
                )
        except writes.WriteRefused as refusal:
            return DeleteReportPayload(user_errors=[UserError.of(refusal)])
        return DeleteReportPayload(saved_report=SavedReport.from_row(row))
