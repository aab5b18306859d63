"""Slow clients: how long a connection may take to send a request, and how many a worker holds.

uvicorn closes idle kept-alive connections, but it waits as long as a client likes for a request
that arrives a byte at a time, and it accepts every connection: 7,000 such clients held 106 MB and
7,027 descriptors of one server. Three bounds, each a setting (app/config.py, README):

- `GuardedHttpProtocol`, uvicorn's httptools protocol with a header timer: a connection that has
  not sent a request's complete headers `SCHOOLGRAPH_HEADER_TIMEOUT` seconds after it opened (or,
  kept alive, after the next request's first byte) is answered 408 and closed;
- the same protocol answers a connection beyond `SCHOOLGRAPH_MAX_CONNECTIONS` (per worker) 503 and
  closes it at once, so a flood costs no more than that many descriptors;
- `BodyTimeout`, an ASGI middleware: a body not complete `SCHOOLGRAPH_BODY_TIMEOUT` seconds after
  its headers is answered 408 (`extensions.code` REQUEST_TIMEOUT) and the connection closed.

`schoolgraph serve` runs uvicorn with them:

    uvicorn.run("app.asgi:create_app", factory=True, **server_options(get_settings()))

and `create_app` puts `BodyTimeout` in front of every route.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings, get_settings

REQUEST_TIMEOUT = "REQUEST_TIMEOUT"


def _error_body(message: str, code: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


def _raw_response(status: str, message: str, code: str, extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 response, written by the protocol itself (no ASGI cycle exists yet)."""
    body = _error_body(message, code)
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n"
    ).encode()
    return head + extra + b"\r\n" + body


_HEADERS_TOO_SLOW = _raw_response(
    "408 Request Timeout", "the request headers did not arrive in time", REQUEST_TIMEOUT
)
_TOO_MANY_CONNECTIONS = _raw_response(
    "503 Service Unavailable",
    "too many open connections; try again shortly",
    "SERVICE_UNAVAILABLE",
    b"retry-after: 1\r\n",
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a header timer and a cap on open connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout = settings.header_timeout
        self.max_connections = settings.max_connections
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:  # this one included
            self._answer_and_close(_TOO_MANY_CONNECTIONS)
            return
        # From the opening: a client that connects and sends nothing is timed out too.
        self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()  # a kept-alive connection's next request; no-op if running

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request trickles in while the one before is answered: finish that
            # answer, then close (writing a 408 now would cut into it).
            self.cycle.keep_alive = False
            return
        self._answer_and_close(_HEADERS_TOO_SLOW)

    def _answer_and_close(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for these bounds (`uvicorn.run(..., **server_options(settings))`)."""
    return {
        "http": GuardedHttpProtocol,
        # uvicorn counts the connection asking among the open ones, so one more than our cap
        # leaves connections to GuardedHttpProtocol and bounds only requests still running for
        # clients that went away.
        "limit_concurrency": settings.max_connections + 1,
        "backlog": settings.backlog,
    }


class BodyTimeout:
    """Answers 408 when a request's body is not complete within `seconds` of its headers.

    The deadline covers the whole body, not each chunk: a client sending one byte a second is
    as slow as one sending nothing. After the 408 the application sees the client as gone
    (`http.disconnect`); what it raises then, or sends, goes nowhere.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_complete = False
        response_started = False
        answered = False

        async def bounded_receive() -> Message:
            nonlocal body_complete, answered
            if body_complete:
                return await receive()
            if answered:
                return {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                if not response_started:
                    answered = True
                    await _send_request_timeout(send)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if answered:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not answered:
                raise
            # The application failed reading a body that never came; the 408 is the answer.


async def _send_request_timeout(send: Send) -> None:
    body = _error_body("the request body did not arrive in time", REQUEST_TIMEOUT)
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
