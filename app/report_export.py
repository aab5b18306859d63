"""`GET /reports/export.csv`: a report as CSV, for spreadsheets and scheduled pulls.

An HTTP endpoint beside `/graphql`: it authenticates like it (the same bearer token), reads the
definition from the query string (or a saved view's id), and runs the report through the runtime
(`app.reports`): scoped to the viewer's schools, suppressed, and audited with channel `csv`.

```sh
curl -H "Authorization: Bearer $TOKEN" \
  "http://127.0.0.1:8000/reports/export.csv?metric=STUDENT_COUNT&groupBy=SCHOOL,GRADE_LEVEL"
```
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import strawberry
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from app import reports
from app.http import GraphQLEndpoint
from schema.context import Context
from schema.errors import BadInput, Forbidden
from schema.relay import from_global_id
from schema.reports.queries import bad_input
from schema.reports.types import (
    ReadinessCategory,
    ReadinessIndicatorKind,
    ReportDimension,
    ReportFilter,
    ReportMetric,
    coordinate_value,
    to_spec,
)

_LIST_PARAMETERS = (
    "groupBy",
    "schoolIds",
    "gradeLevels",
    "graduationYears",
    "genders",
    "ethnicities",
    "classIds",
    "termIds",
    "indicators",
    "readinessCategories",
)
# Lists of names, ids and numbers may also be given comma-separated; genders and ethnicities
# are free text, so only by repeating the parameter.
_FREE_TEXT = ("genders", "ethnicities")
_PARAMETERS = ("metric", "savedReportId", "from", "to", *_LIST_PARAMETERS)


def _values(params: QueryParams, name: str) -> list[str]:
    values = params.getlist(name)
    if name in _FREE_TEXT:
        return values
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _enum(kind: Any, name: str, value: str) -> Any:
    try:
        return kind[value]
    except KeyError:
        choices = ", ".join(member.name for member in kind)
        raise BadInput(f"{name}: {value!r} is not one of {choices}", argument=name) from None


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"{name}: {value!r} is not a whole number", argument=name) from None


def _date(name: str, value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise BadInput(f"{name}: {value!r} is not a date (YYYY-MM-DD)", argument=name) from None


def _spec_from_params(params: QueryParams) -> reports.ReportSpec:
    v = {name: _values(params, name) for name in _LIST_PARAMETERS}
    metric = params.get("metric")
    if not metric:
        raise BadInput("give `metric` (and optionally groupBy and filters) or `savedReportId`")
    flt = ReportFilter(
        school_ids=[strawberry.ID(i) for i in v["schoolIds"]],
        grade_levels=[_int("gradeLevels", g) for g in v["gradeLevels"]],
        graduation_years=[_int("graduationYears", y) for y in v["graduationYears"]],
        genders=v["genders"],
        ethnicities=v["ethnicities"],
        class_ids=[strawberry.ID(i) for i in v["classIds"]],
        term_ids=[strawberry.ID(i) for i in v["termIds"]],
        indicators=[_enum(ReadinessIndicatorKind, "indicators", i) for i in v["indicators"]],
        readiness_categories=[
            _enum(ReadinessCategory, "readinessCategories", c) for c in v["readinessCategories"]
        ],
        from_=_date("from", params.get("from")),
        to=_date("to", params.get("to")),
    )
    try:
        return to_spec(
            _enum(ReportMetric, "metric", metric),
            [_enum(ReportDimension, "groupBy", d) for d in v["groupBy"]],
            flt,
        )
    except reports.InvalidReport as exc:
        raise bad_input(exc) from exc


async def _requested(
    context: Context, params: QueryParams
) -> tuple[reports.ReportSpec, int | None, str | None]:
    """The report the query string asks for: (definition, saved report id, saved name)."""
    unknown = sorted(set(params) - set(_PARAMETERS))
    if unknown:
        raise BadInput(
            f"unknown parameter {unknown[0]!r}; expected: {', '.join(_PARAMETERS)}",
            argument=unknown[0],
        )
    saved_id = params.get("savedReportId")
    if saved_id is None:
        return _spec_from_params(params), None, None
    if len(set(params)) > 1:
        raise BadInput("savedReportId runs the saved definition: give no other parameter")
    viewer = await context.require_viewer()
    async with context.db() as connection:
        row = await reports.saved_report(
            connection=connection,
            district_id=viewer.district_id,
            saved_id=from_global_id(saved_id, "SavedReport")[1],
        )
    if row is None:
        raise BadInput("no such saved report", argument="savedReportId")
    return reports.spec_of(row), row.id, row.name


async def _run(context: Context, params: QueryParams) -> tuple[reports.Report, str | None]:
    """Run the requested report within the viewer's scope, and record the run."""
    viewer = await context.require_viewer()
    scope = reports.report_scope(viewer)
    if scope is None:
        raise Forbidden(
            "reports are for coordinators, school and district administrators and reporting "
            "accounts",
            reason="no role that runs reports",
        )
    spec, saved_id, name = await _requested(context, params)
    if reports.schools_outside(spec, scope):
        raise Forbidden(
            "schoolIds names a school outside the schools you report on",
            reason="outside the viewer's report scope",
        )
    async with context.db() as connection:
        try:
            report = await reports.run_audited(
                connection,
                spec=spec,
                scope=scope,
                viewer=viewer,
                request_id=context.request_id,
                channel="csv",
                saved_report_id=saved_id,
            )
        except reports.InvalidReport as exc:
            raise bad_input(exc) from exc
    return report, name


def to_csv(report: reports.Report) -> str:
    """One row per cell: per dimension its label and value, then the value, the student count
    and whether (and why) it is suppressed. Subtotals say `Total` with an empty value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    names = [d.lower() for d in report.spec.group_by]
    writer.writerow(
        [
            *(column for name in names for column in (name, f"{name}_id")),
            "value",
            "student_count",
            "suppressed",
            "suppression_reason",
        ]
    )
    for cell in report.cells:
        writer.writerow(
            [
                *(part for c in cell.coordinates for part in (c.label, coordinate_value(c) or "")),
                "" if cell.value is None else _number(cell.value),
                "" if cell.student_count is None else cell.student_count,
                "true" if cell.suppressed else "false",
                cell.suppression.value if cell.suppression else "",
            ]
        )
    return out.getvalue()


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def filename(report: reports.Report, name: str | None, today: date) -> str:
    """`<slug>-<date>.csv`: the saved report's name, or the metric and its dimensions."""
    if name is None:
        name = report.spec.metric + (
            " by " + " ".join(report.spec.group_by) if report.spec.group_by else ""
        )
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80].strip("-") or "report"
    return f"{slug}-{today.isoformat()}.csv"


async def export_csv(request: Request, endpoint: GraphQLEndpoint) -> Response:
    """`GET /reports/export.csv`: a report as CSV, authenticated and scoped like `/graphql`.

    401 without a valid bearer token, 403 for roles without reports, 400 for bad parameters
    (the message says which); the run is audited in the request's transaction.
    """

    async def work(context: Context) -> Response:
        report, name = await _run(context, request.query_params)
        today = datetime.now(UTC).date()
        return Response(
            to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename(report, name, today)}"',
                "Cache-Control": "no-store",
            },
        )

    return await endpoint.answer_plain(request, work)
