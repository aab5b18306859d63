"""`Query.report`, `Query.savedReports` and `Query.savedReport` (the same reports as CSV are
served by the HTTP layer, `app.report_export`).

Every run is scoped (a coordinator or school admin reports on their schools, a district admin or
reporting account on the district), bounded (`MAX_RUNS_PER_REQUEST`) and audited.
"""

from __future__ import annotations

import strawberry

from app import reports
from app.relations import RowScope, Viewer
from schema.context import Context, Info
from schema.cursors import Cursors
from schema.errors import BadInput, Forbidden
from schema.relay import Connection, build_connection, from_global_id, page_size
from schema.reports.types import (
    Report,
    ReportDimension,
    ReportFilter,
    ReportMetric,
    SavedReport,
    to_spec,
)

# Each run is two statements and an audit row; aliases and `savedReports { run }` are capped.
MAX_RUNS_PER_REQUEST = 10


def require_report_scope(context: Context, viewer: Viewer) -> RowScope:
    """The schools the viewer reports on; Forbidden for roles without reports."""
    if not context.authorization:  # the benchmark's own entry point only
        return RowScope(viewer.district_id, frozenset(), frozenset(), whole_district=True)
    scope = reports.report_scope(viewer)
    if scope is None:
        raise Forbidden(
            "reports are for coordinators, school and district administrators and reporting "
            "accounts",
            reason="no role that runs reports",
        )
    return scope


def bad_input(error: reports.InvalidReport) -> BadInput:
    return BadInput(str(error), field=error.field) if error.field else BadInput(str(error))


async def run_report(
    context: Context,
    spec: reports.ReportSpec,
    *,
    channel: str,
    saved_id: int | None = None,
) -> reports.Report:
    """Run a validated report within the viewer's scope, and record the run."""
    viewer = await context.require_viewer()
    scope = require_report_scope(context, viewer)
    if reports.schools_outside(spec, scope):
        raise Forbidden(
            "schoolIds names a school outside the schools you report on",
            reason="outside the viewer's report scope",
        )
    runs = getattr(context.request.state, "report_runs", 0) + 1
    if runs > MAX_RUNS_PER_REQUEST:
        raise BadInput(f"at most {MAX_RUNS_PER_REQUEST} reports per request")
    context.request.state.report_runs = runs
    async with context.db() as connection:
        try:
            report = await reports.run_audited(
                connection,
                spec=spec,
                scope=scope,
                viewer=viewer,
                request_id=context.request_id,
                channel=channel,
                saved_report_id=saved_id,
            )
        except reports.InvalidReport as exc:
            raise bad_input(exc) from exc
    return report


async def load_saved(context: Context, saved_id: int) -> SavedReport | None:
    """A saved report of the viewer's district; Forbidden for roles without reports."""
    viewer = await context.require_viewer()
    require_report_scope(context, viewer)
    async with context.db() as connection:
        row = await reports.saved_report(
            connection=connection, district_id=viewer.district_id, saved_id=saved_id
        )
    return SavedReport.from_row(row) if row else None


@strawberry.type
class ReportQuery:
    @strawberry.field(
        description="A de-identified aggregate of the students the viewer reports on: `metric` "
        "in every combination of the `groupBy` dimensions, every subtotal and the grand total. "
        "Cells that would tell something about fewer students than the district's minimum "
        "(their students, a rate's numerator or complement) are suppressed."
    )
    async def report(
        self,
        info: Info,
        metric: ReportMetric,
        group_by: list[ReportDimension] = [],  # noqa: B006 - never mutated; GraphQL default
        filter: ReportFilter | None = None,
    ) -> Report | None:
        try:
            spec = to_spec(metric, group_by, filter)
        except reports.InvalidReport as exc:
            raise bad_input(exc) from exc
        return Report.of(await run_report(info.context, spec, channel="graphql"))

    @strawberry.field(description="The district's saved report views, by name.")
    async def saved_reports(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> Connection[SavedReport] | None:
        context = info.context
        viewer = await context.require_viewer()
        require_report_scope(context, viewer)
        size = page_size(first, context.settings.max_page_size)
        cursors = Cursors.of(context, "savedReports", "NAME", viewer)
        key = cursors.open(after, len(reports.SAVED_ORDER.columns))
        async with context.db() as connection:
            rows = await reports.saved_reports(
                connection=connection, district_id=viewer.district_id, first=size, after=key
            )
        saved = [SavedReport.from_row(row) for row in rows]

        async def count() -> int:
            async with context.db() as connection:
                return await reports.count_saved_reports(
                    connection=connection, district_id=viewer.district_id
                )

        return build_connection(
            saved,
            first=size,
            after=key,
            cursor=lambda s: cursors.seal((s.name, s.pk)),
            count=count,
        )

    @strawberry.field(description="A saved report view of the district; null if none.")
    async def saved_report(self, info: Info, id: strawberry.ID) -> SavedReport | None:
        return await load_saved(info.context, from_global_id(id, "SavedReport")[1])
