"""`POST /roster/imports`: a OneRoster set uploaded by a district administrator, imported.

The same importer as `schoolgraph import-oneroster` (app/roster), into the administrator's own
district, all or nothing. The body is the set as a `.zip`: raw (`Content-Type: application/zip`)
or as the `file` part of a `multipart/form-data` form. `dryRun=true` (the default) validates and
reports what would change; `dryRun=false` applies. Every run is recorded in `roster_import`
(GraphQL `rosterImports`).

```sh
curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/zip" \
  --data-binary @district.zip "http://127.0.0.1:8000/roster/imports?dryRun=true"
```

200 when the set validated (dry run) or was applied, 422 when errors stopped it (nothing
written), 400 for a body that is no zip, 401 / 403 for callers who are not district
administrators, 413 past `SCHOOLGRAPH_MAX_ROSTER_UPLOAD_BYTES`.
"""

from __future__ import annotations

import asyncio
import datetime
import tempfile
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.http import GraphQLEndpoint
from app.models import Role
from app.roster import runs
from app.roster.importer import RosterImportError, import_roster
from app.roster.messages import ERROR, WARNING
from app.roster.report import ImportReport
from schema.context import Context
from schema.errors import BadInput, Forbidden
from schema.relay import to_global_id

PATH = "/roster/imports"
_CHUNK = 1024 * 1024


def _dry_run(request: Request) -> bool:
    unknown = sorted(set(request.query_params) - {"dryRun"})
    if unknown:
        raise BadInput(f"unknown parameter {unknown[0]!r}; expected: dryRun", argument=unknown[0])
    value = request.query_params.get("dryRun", "true").lower()
    if value not in ("true", "false"):
        raise BadInput("dryRun must be true or false", argument="dryRun")
    return value == "true"


async def _save_body(request: Request, target: Path) -> None:
    """The uploaded set, written to `target` as it arrives (never held whole in memory)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with target.open("wb") as out:
        if kind == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=10)
            try:
                part = form.get("file")
                if not isinstance(part, UploadFile):
                    raise BadInput("send the set as the `file` part of the form", argument="file")
                while chunk := await part.read(_CHUNK):
                    out.write(chunk)
            finally:
                await form.close()
        else:
            async for chunk in request.stream():
                out.write(chunk)


def _body(report: ImportReport, run_id: int) -> dict[str, Any]:
    shown = report.messages.shown
    return {
        "id": to_global_id("RosterImport", run_id),
        "status": runs.status_of(report),
        "dryRun": report.dry_run,
        "version": report.version,
        "counts": report.totals(),
        "rowsRead": dict(report.rows_read),
        "errorCount": report.messages.errors_total,
        "warningCount": report.messages.warnings_total,
        "errors": [str(m) for m in shown if m.severity == ERROR],
        "warnings": [str(m) for m in shown if m.severity == WARNING],
    }


async def upload_roster(request: Request, endpoint: GraphQLEndpoint, database_url: str) -> Response:
    async def work(context: Context) -> Response:
        viewer = await context.require_viewer()
        if not viewer.role_schools(Role.DISTRICT_ADMIN)[1]:
            raise Forbidden(
                "only district administrators import rosters", reason="not a district administrator"
            )
        dry_run = _dry_run(request)
        started = datetime.datetime.now(datetime.UTC)
        with tempfile.TemporaryDirectory(prefix="schoolgraph-roster-") as folder:
            path = Path(folder) / "set.zip"
            await _save_body(request, path)
            try:
                # In a thread with its own event loop: reading and checking a large set is
                # CPU work that would otherwise stall every other request of this process.
                # The server's role does not own the tables, so keys are never dropped.
                report = await asyncio.to_thread(
                    asyncio.run,
                    import_roster(
                        database_url,
                        path,
                        district=str(viewer.district_id),
                        dry_run=dry_run,
                        drop_foreign_keys=False,
                    ),
                )
            except RosterImportError as exc:
                raise BadInput(
                    "the body must be a .zip of OneRoster CSV files"
                    if "not a folder or a .zip" in str(exc)
                    else str(exc)
                ) from exc
        async with context.db() as connection:
            run_id = await runs.record_run(
                connection,
                district_id=viewer.district_id,
                user_id=viewer.user_id,
                report=report,
                started_at=started,
            )
        return JSONResponse(_body(report, run_id), status_code=200 if report.ok else 422)

    return await endpoint.answer_plain(request, work)
