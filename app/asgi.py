"""The ASGI application: GraphQL at `/graphql` (GraphiQL for browsers), report CSV exports,
roster uploads, inspection bundles' downloads, health and metrics.

`create_app()` is what uvicorn serves (`app.asgi:create_app`, a factory). The benchmark's own entry
point may pass `authorization=False` to measure what authorization costs; no setting, variable or
flag of a deployed server can turn it off.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from app import cors, graphiql, metrics, policy_sync, rights_export, roster_upload, sealer
from app.body_limit import BodySizeLimit
from app.config import Settings, get_settings
from app.connection_limits import BodyTimeout
from app.database import create_engine, resolve_database_url, server_role_problem
from app.database_tls import warn_plain_text
from app.encryption import check_keys
from app.http import GraphQLEndpoint, PolicyHolder
from app.http_errors import MaskFailures, http_exception
from app.login_limits import LoginLimiter
from app.offload import WorkerPool
from app.persisted.protocol import PersistedQueries
from app.policy import load_policy
from app.report_export import export_csv
from app.rights_export import download_export
from app.roster_upload import upload_roster
from schema import create_schema

_log = logging.getLogger(__name__)


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept and "query" not in request.query_params


class _GraphQLRoute:
    """GraphiQL for a browser's GET, the GraphQL endpoint for everything else."""

    def __init__(self, endpoint: GraphQLEndpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _wants_html(Request(scope, receive)):
            await graphiql.page(self.settings)(scope, receive, send)
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


async def _check_login_limits(limiter: LoginLimiter) -> None:
    """Say loudly at start when the login limits will not hold as configured."""
    # WEB_CONCURRENCY: the worker count uvicorn and gunicorn read (and `schoolgraph serve` sets).
    workers = int(os.environ.get("WEB_CONCURRENCY") or 1)
    if not limiter.shared and workers > 1:
        _log.warning(
            "LOGIN RATE LIMITS ARE PER PROCESS: %d workers and no SCHOOLGRAPH_REDIS_URL, so a "
            "client gets up to %d times the configured login attempts; set SCHOOLGRAPH_REDIS_URL",
            workers,
            workers,
        )
    if limiter.shared and not await limiter.ping():
        _log.warning("Redis for the login rate limits does not answer: logins are not limited")


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    authorization: bool = True,
) -> Starlette:
    settings = settings or get_settings()
    url = database_url or resolve_database_url(settings)
    engine = create_engine(url, settings)
    source = policy_sync.fingerprint(settings.policy_dir)  # before reading, as a reload does
    holder = PolicyHolder(load_policy(settings.policy_dir), source)
    login_limiter = LoginLimiter.from_settings(settings)
    hashing = WorkerPool("password-hash", workers=settings.hash_workers, queue=settings.hash_queue)
    persisted = PersistedQueries(settings.persisted_queries)  # type: ignore[arg-type]
    endpoint = GraphQLEndpoint(
        create_schema(settings, policy=holder.current),
        settings=settings,
        engine=engine,
        policy=holder,
        login_limiter=login_limiter,
        hashing=hashing,
        authorization=authorization,
        persisted=persisted,
    )

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure means "not ready"
            # One line, not a traceback: a probe asks every few seconds all through an outage.
            _log.warning("not ready: %s: %s", type(error).__name__, error)
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True})

    async def export_report(request: Request) -> Response:
        return await export_csv(request, endpoint)

    async def data_export(request: Request) -> Response:
        return await download_export(request, endpoint)

    async def roster_imports(request: Request) -> Response:
        return await upload_roster(request, endpoint, url)

    async def metrics_endpoint(_: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Least privilege is not optional: connected as a superuser or the owner, the server could
        # rewrite the record it keeps, so it does not start (`schoolgraph serve` says so first).
        problem = await server_role_problem(url)
        if problem:
            await engine.dispose()
            raise RuntimeError(problem)
        warn_plain_text(url, production=settings.production)
        try:
            await check_keys(engine)
        except BaseException:
            await engine.dispose()
            raise
        listener = await policy_sync.listen(url, holder, settings.policy_dir)
        await persisted.registered.load(engine)
        documents_listener = await persisted.registered.listen(url, engine)
        await _check_login_limits(login_limiter)
        sealing = sealer.start(engine, settings)
        graphiql.warn_if_missing()
        _settle_garbage_collector()
        try:
            yield
        finally:
            await sealer.stop(sealing)
            await listener.close()
            await documents_listener.close()
            await login_limiter.close()
            hashing.close()
            endpoint.encodes.close()
            await engine.dispose()

    application = Starlette(
        routes=[
            Route("/graphql", _GraphQLRoute(endpoint, settings), methods=["GET", "POST"]),
            Route("/reports/export.csv", export_report, methods=["GET"]),
            Route(roster_upload.PATH, roster_imports, methods=["POST"]),
            Route(rights_export.PATH, data_export, methods=["GET"]),
            Route("/graphiql/examples.json", graphiql.examples_endpoint, methods=["GET"]),
            Mount("/graphiql/vendor", app=graphiql.vendor_files()),
            Mount("/graphiql/app", app=graphiql.app_files()),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception},
        middleware=[
            # Outermost, so that every answer (a refusal or a masked failure too) carries the
            # headers a page on an allowed origin needs to read it.
            cors.middleware(settings.cors_origins),
            Middleware(MaskFailures),
            Middleware(BodyTimeout, seconds=settings.body_timeout),
            Middleware(
                BodySizeLimit,
                max_bytes=settings.max_body_bytes,
                paths={roster_upload.PATH: settings.max_roster_upload_bytes},
            ),
        ],
    )
    # The pools, for whoever needs to see how busy they are (tests, a future metrics gauge).
    application.state.hashing = hashing
    application.state.encodes = endpoint.encodes
    return application
