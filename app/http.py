"""The GraphQL endpoint: authentication, the per-request context and transaction, status codes
and media types (GraphQL over HTTP).

One request is one transaction: the context opens it on the first statement, and `run` commits it
(after appending the request's disclosures) once the response is built. It rolls back instead
when the request answered no data, or when anything unexpected failed — then the caller gets a
masked 500 (503 when the database is unavailable) and no data, so nothing is shown that was not
recorded (a commit that fails is answered the same way). Statuses and codes: app/http_errors.py;
which media type is answered: app/media_types.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult

from app import auth, database, encoding, metrics
from app.config import Settings
from app.http_errors import (
    RequestRefused,
    error_response,
    failure,
    is_request_error,
    refusal,
    request_error_status,
    request_id,
    result_status,
    try_later_status,
)
from app.login_limits import LoginLimiter
from app.media_types import JSON, media_type_of, negotiate
from app.offload import WorkerPool
from app.persisted.protocol import PersistedQueries
from app.policy import CASBIN_CALLS, CompiledPolicy
from app.sessions.checks import SessionEnded
from schema.context import Context
from schema.errors import (
    MASKED_MESSAGE,
    OPERATION_RESOLUTION_FAILURE,
    Forbidden,
    PublicError,
    Unauthenticated,
    masked,
)

__all__ = ["MASKED_MESSAGE", "GraphQLEndpoint", "PolicyHolder"]

_log = logging.getLogger(__name__)


async def _check_session(context: Context) -> None:
    """A token that names a session is refused (401) when the session has ended. The viewer is
    loaded now rather than by the first field that needs it: the same one statement."""
    try:
        await context.viewer()
    except SessionEnded as exc:
        await context.finish(commit=False)
        raise AuthenticationFailed(str(exc)) from exc
    except BaseException:
        await context.finish(commit=False)
        raise


class AuthenticationFailed(RequestRefused):
    def __init__(self, message: str) -> None:
        super().__init__(401, message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class PolicyHolder:
    """The current compiled policy; replaced whole on reload, so a request sees one version.
    `source` is the fingerprint of the files it was compiled from (`policy_sync.fingerprint`)."""

    def __init__(self, policy: CompiledPolicy, source: str) -> None:
        self.current = policy
        self.source = source


class GraphQLEndpoint(GraphQL[Context, None]):
    def __init__(
        self,
        schema: Any,
        *,
        settings: Settings,
        engine: AsyncEngine,
        policy: PolicyHolder,
        login_limiter: LoginLimiter,
        hashing: WorkerPool,
        authorization: bool = True,
        persisted: PersistedQueries | None = None,
    ) -> None:
        # GraphiQL is served by our own page (app.graphiql); Strawberry's loads from a CDN.
        super().__init__(schema, graphql_ide=None)
        self.settings = settings
        self.engine = engine
        self.policy = policy
        self.login_limiter = login_limiter
        self.hashing = hashing
        # One thread: orjson holds the GIL, so a second one would only interleave two encodes.
        self.encodes = WorkerPool("encode", workers=1)
        self.authorization = authorization
        self.persisted = persisted or PersistedQueries()

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses what `json` lets through to fail later: invalid UTF-8, lone surrogates
        # (which PostgreSQL cannot store) and nesting deeper than 1,024 (a RecursionError).
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise RequestRefused(400, f"the request body is not valid JSON: {exc}") from exc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id(scope)
        if scope["type"] != "http":
            await error_response(
                "only HTTP is served here", 400, code="BAD_REQUEST", request_id=rid
            )(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = negotiate(request.headers.get("accept"))
        response: Response
        try:
            if media_type is None:
                raise RequestRefused(
                    406,
                    "the response is JSON: accept application/graphql-response+json or"
                    " application/json",
                )
            response = await self.run(request)
        except HTTPException as exc:  # wrong method, no query, unknown operation name, ...
            response = refusal(_refused_by_strawberry(exc, scope["method"], media_type), scope)
        except RequestRefused as refused:  # bad token, body too large or not JSON, ...
            response = refusal(refused, scope)
        except Exception as error:  # raised outside the resolvers: never shown as it is
            response = failure(error, scope)
        await response(scope, receive, send)

    async def answer_plain(
        self, request: Request, work: Callable[[Context], Awaitable[Response]]
    ) -> Response:
        """A plain HTTP endpoint (the CSV export, the roster upload) with a GraphQL request's
        viewer and transaction: committed once `work` answers, rolled back otherwise; its
        refusals as JSON errors with their status (401, 403, else 400; a `RequestRefused`
        its own, such as 404 or 410)."""
        try:
            context = await self.get_context(request, Response())
        except AuthenticationFailed as exc:
            return _plain_error(request, Unauthenticated(str(exc)), 401)
        committed = False
        try:
            response = await work(context)
            await context.finish(commit=True)
            committed = True
        except Unauthenticated as exc:
            return _plain_error(request, exc, 401)
        except Forbidden as exc:
            return _plain_error(request, exc, 403)
        except PublicError as exc:
            return _plain_error(request, exc, 400)
        except RequestRefused as exc:
            return refusal(exc, request.scope)
        finally:
            if not committed:
                await context.finish(commit=False)
        return response

    async def get_context(self, request: Any, response: Any) -> Context:
        header = request.headers.get("authorization")
        subject = None
        if header is not None:
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise AuthenticationFailed("the Authorization header must be `Bearer <token>`")
            try:
                subject = auth.verify_token(token.strip(), self.settings)
            except auth.InvalidToken as exc:
                raise AuthenticationFailed(str(exc)) from exc
        context = Context(
            request=request,
            response=response,
            settings=self.settings,
            policy=self.policy.current,
            engine=self.engine,
            subject=subject,
            login_limiter=self.login_limiter,
            hashing=self.hashing,
            authorization=self.authorization,
            request_id=request_id(request.scope),
        )
        request.state.context = context
        request.state.statements = database.start_counting()
        request.state.casbin_calls = CASBIN_CALLS.calls
        if subject is not None and subject.session_id is not None:
            await _check_session(context)
        return context

    def should_render_graphql_ide(self, request: Any) -> bool:
        # GraphiQL is answered before this endpoint (app.asgi); a GET without `query` is a
        # GraphQL request too (a persisted query's hash), whatever it accepts.
        return False

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        # A repeated parameter would arrive as a list, which no GraphQL field accepts.
        for name in ("query", "variables", "operationName", "extensions"):
            if len(params.getlist(name)) > 1:
                raise RequestRefused(400, f"`{name}` may be given once")
        return super().parse_query_params(params)

    def parse_json(self, data: str | bytes) -> Any:
        # The body, `variables` and `extensions` are objects (a list is a batch, which Strawberry
        # refuses clearly); Strawberry would take a scalar body for an object (a 500).
        value = self.decode_json(data)
        if not isinstance(value, dict | list):
            raise RequestRefused(400, "a JSON object was expected")
        return value

    async def parse_http_body(self, request: Any) -> Any:
        if request.method == "POST":
            # GraphQL over HTTP defines one request body type; Strawberry's check would let
            # through any type whose name contains it, and answer others 400.
            media_type, _ = parse_content_type(request.content_type or "")
            if media_type != JSON:
                raise RequestRefused(
                    415, "the request body must be application/json", headers={"Accept-Post": JSON}
                )
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item.operation_name, str | None):
                raise RequestRefused(400, "`operationName` must be a string or null")
            if _has_nul(item.query) or _has_nul(item.variables):
                # PostgreSQL text cannot hold NUL: refuse it here rather than fail in SQL.
                raise RequestRefused(400, "text may not contain NUL characters")
        return data

    async def execute_operation(
        self,
        request: Any,
        request_adapter: Any,
        request_data: Any,
        context: Any,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        # Persisted queries (app/persisted): the document is looked up, or the request refused,
        # before anything is parsed. Batches are refused earlier.
        if isinstance(request_data, GraphQLRequestData):
            await self.persisted.resolve(request_data, context)
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        from strawberry.types.unset import UNSET

        try:
            response = await super().run(
                request,
                context=UNSET if context is None else context,
                root_value=UNSET if root_value is None else root_value,
            )
        except BaseException:
            await self._roll_back(request)
            raise
        failed = getattr(request.state, "failed", False)
        try:
            await self._finish(request, commit=not failed)
        except Exception as error:
            if not failed:
                # The answer was built but what it disclosed or wrote was not recorded: show
                # nothing.
                return failure(error, request.scope)
            # Nothing was to be kept and the answer shows nothing: a failed rollback changes
            # neither (the server ends the transaction with the connection).
            _log.warning("could not roll back: %s", type(error).__name__)
        response.headers["content-type"] = media_type_of(request.headers)
        return response

    async def _roll_back(self, request: Request) -> None:
        """End a request that raised; the exception it raised is the one to report."""
        try:
            await self._finish(request, commit=False)
        except Exception as error:
            _log.warning("could not roll back: %s", type(error).__name__)

    async def _finish(self, request: Request, *, commit: bool) -> None:
        context: Context | None = getattr(request.state, "context", None)
        if context is None:
            return
        await context.finish(commit=commit)
        metrics.add("schoolgraph_graphql_requests_total")
        metrics.add("schoolgraph_sql_statements_total", request.state.statements.statements)
        metrics.add(
            "schoolgraph_redacted_fields_total", sum(r.count for r in context.redactions.values())
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        context: Context = request.state.context
        # Masked again here: errors raised outside the resolvers (an extension's hook, such as
        # recording the disclosures) never passed through the schema's masking.
        errors: list[GraphQLError] = [masked(e) for e in result.errors or []]
        request_error = is_request_error(result.data, errors)
        status, headers = result_status(
            errors, request_error=request_error, media_type=media_type_of(request.headers)
        )
        failed = status is not None and status >= 500
        later = None if failed else try_later_status(result.data, errors)
        if later is not None:
            # Only "not now" (a rate limit, a full hash queue): what the other fields did, such
            # as failed logins counted towards a lockout, is kept.
            status, headers = later
        if failed:
            # After a failure show nothing but the (masked) errors.
            result.data = None
        # Nothing answered: roll back (no disclosure of data never shown). A try-later answer
        # with some data keeps what the other fields did.
        request.state.failed = result.data is None
        if status:
            context.response.status_code = status
            context.response.headers.update(headers)
        # Strawberry encodes the response synchronously, on the loop (`encode_json`): a large
        # `data` reaches it already encoded, off the loop.
        processed: GraphQLHTTPResponse = {}
        if not request_error:
            # A request error has no `data` entry at all: nothing was executed (GraphQL, 7.1).
            processed["data"] = await encoding.encoded_if_large(result.data, self.encodes)
        if errors:
            processed["errors"] = [e.formatted for e in errors]
        extensions: dict[str, Any] = {"requestId": context.request_id}
        if not self.settings.production:
            # Deterministic per query shape: tests and benchmarks read them.
            extensions["sqlStatements"] = request.state.statements.statements
            # Zero unless the policy was (re)compiled meanwhile: decisions come from its tables.
            extensions["casbinCalls"] = CASBIN_CALLS.calls - request.state.casbin_calls
            # Whether the compiled path answered (docs/execution.md), for tests and benchmarks.
            extensions["compiled"] = context.compiled
        processed["extensions"] = extensions
        return processed


def _refused_by_strawberry(
    exc: HTTPException, method: str, media_type: str | None
) -> RequestRefused:
    """A refusal of Strawberry's HTTP layer with our code (and status, where the spec says)."""
    cause = exc.__cause__
    if isinstance(cause, InvalidOperationTypeError) and method == "GET":
        # GraphQL over HTTP: a mutation must not run on a safe method; 405, not 400.
        return RequestRefused(405, exc.reason, headers={"Allow": "POST"})
    if isinstance(cause, CannotGetOperationTypeError):
        # No operation of that name: a request error (GraphQL's GetOperation), with the status
        # of any other (docs/errors.md), though Strawberry raises it before validating.
        status = request_error_status(media_type or JSON) or 200
        return RequestRefused(status, exc.reason, code=OPERATION_RESOLUTION_FAILURE)
    return RequestRefused(exc.status_code, exc.reason)


def _plain_error(request: Request, error: PublicError, status: int) -> Response:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return error_response(
        str(error),
        status,
        code=error.code,
        request_id=request_id(request.scope),
        headers=headers,
        media_type=media_type_of(request.headers),
        extensions=error.extensions,
    )


def _has_nul(value: Any) -> bool:
    """A NUL character anywhere in the query (raw or as a GraphQL `\\u0000` escape) or in a
    variable."""
    if isinstance(value, str):
        return "\x00" in value or "\\u0000" in value.lower()
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
