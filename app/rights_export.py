"""`GET /rights/exports/<token>`: the bundle of a completed inspection request, downloaded.

The link comes from `DataRequest.export.url`; it opens only with the bearer token of someone
allowed to download the bundle (app/rights/inspect.py): the requester — a guardian who still
holds the link that gave them the right, or the student once their rights are their own — or an
administrator of the district.

```sh
curl -H "Authorization: Bearer $TOKEN" -o record.zip "$URL"
```

200 `application/zip` (`attachment; filename="student-record-<date>.zip"`, never cached); 401
without a valid bearer token; 404 for anyone else, and for a link that does not exist (the two
look the same: the answer does not confirm that a link exists); 410 once the link expired or
the bundle was purged; 405 for HEAD (it would record a download that sent nothing). A download
is recorded as a disclosure of the whole record (purpose "inspection of records") and audited
(`download_data_export`), in the request's transaction.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.http import GraphQLEndpoint
from app.http_errors import RequestRefused, refusal
from app.rights import inspect
from schema.context import Context

PATH = inspect.PATH
_NOT_FOUND = "no such download"


async def download_export(request: Request, endpoint: GraphQLEndpoint) -> Response:
    if request.method != "GET":
        # HEAD would record a download that sent nothing.
        return refusal(
            RequestRefused(405, "download with GET", headers={"Allow": "GET"}), request.scope
        )

    async def work(context: Context) -> Response:
        viewer = await context.require_viewer()
        token = request.path_params["token"]
        async with context.db() as connection:
            export = await inspect.find_export(connection, token)
            basis = None
            if export is not None:
                basis = inspect.download_basis(viewer, context.policy, export)
            if export is None or basis is None:
                raise RequestRefused(404, _NOT_FOUND)
            reason = inspect.gone(export)
            if reason is not None:
                raise RequestRefused(410, reason, code="GONE")
            archive = inspect.content_of(export)
            await inspect.record_download(
                connection,
                viewer,
                export,
                basis=basis,
                request_id=context.request_id,
                audit_key=context.settings.audit_key,
            )
        return Response(
            archive,
            media_type="application/zip",
            headers={
                "Content-Disposition": "attachment;"
                f' filename="student-record-{export.built_at:%Y-%m-%d}.zip"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return await endpoint.answer_plain(request, work)
