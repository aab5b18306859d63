"""The ASGI application: GraphQL at `/graphql` (GraphiQL for browsers), report CSV exports,
health and metrics.

`create_app()` is what uvicorn serves (`app.asgi:create_app`, a factory). The benchmark's own entry
point may pass `authorization=False` to measure what authorization costs; no setting, variable or
flag of a deployed server can turn it off.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from app import graphiql, metrics, policy_sync, sealer
from app.config import Settings, get_settings
from app.database import create_engine, resolve_database_url
from app.http import GraphQLEndpoint, PolicyHolder
from app.policy import load_policy
from schema import create_schema
from schema.reports.queries import export_csv

_log = logging.getLogger(__name__)


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept and "query" not in request.query_params


class _GraphQLRoute:
    """GraphiQL for a browser's GET, the GraphQL endpoint for everything else."""

    def __init__(self, endpoint: GraphQLEndpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _wants_html(Request(scope, receive)):
            await graphiql.page()(scope, receive, send)
        else:
            await self.endpoint(scope, receive, send)


# Young objects a collection waits for (CPython's default is 700). A request makes tens of
# thousands (results, infos, rows) that die with it, and a collection that runs mid-request finds
# little garbage: at 700, a teacher's dashboard paid for hundreds of collections.
_YOUNG_COLLECTION_THRESHOLD = 10_000


def _settle_garbage_collector() -> None:
    """Once the server has started: what it built to start (modules, schema, compiled policy)
    lives as long as the process, so it is moved out of the collector's sight, and requests pay
    only for their own objects. Measured on the teacher's dashboard: garbage collection went
    from a fifth of the request's time to a few percent (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_THRESHOLD, middle, old)


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    authorization: bool = True,
) -> Starlette:
    settings = settings or get_settings()
    url = database_url or resolve_database_url(settings)
    engine = create_engine(url, settings)
    holder = PolicyHolder(load_policy(settings.policy_dir))
    endpoint = GraphQLEndpoint(
        create_schema(settings),
        settings=settings,
        engine=engine,
        policy=holder,
        authorization=authorization,
    )

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # any failure means "not ready"; the reason goes to the log
            _log.exception("readiness check failed")
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True})

    async def export_report(request: Request) -> Response:
        return await export_csv(request, endpoint)

    async def metrics_endpoint(_: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        listener = await policy_sync.listen(url, holder, settings.policy_dir)
        sealing = sealer.start(engine, settings)
        _settle_garbage_collector()
        try:
            yield
        finally:
            await sealer.stop(sealing)
            await listener.close()
            await engine.dispose()

    return Starlette(
        routes=[
            Route("/graphql", _GraphQLRoute(endpoint), methods=["GET", "POST"]),
            Route("/reports/export.csv", export_report, methods=["GET"]),
            Mount("/graphiql/vendor", app=graphiql.vendor_files),
            Mount("/graphiql/app", app=graphiql.app_files),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
    )
