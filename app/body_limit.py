"""A limit on the size of request bodies, enforced before they are read.

A `Content-Length` over the limit is refused from the headers alone; a body without one (chunked)
is counted as it arrives and refused as soon as it passes the limit, so no more than the limit
is ever held in memory. Both answer 413 with the code `PAYLOAD_TOO_LARGE`.

```python
app = BodySizeLimit(app, max_bytes=1024 * 1024)
```
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http_errors import RequestRefused


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, paths: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths with a limit of their own (an upload endpoint, which streams to disk).
        self.paths = paths or {}

    def _too_large(self, limit: int) -> RequestRefused:
        return RequestRefused(413, f"the request body is larger than {limit} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope.get("path", ""), self.max_bytes)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                raise RequestRefused(400, "the Content-Length header must be a number")
            if int(declared) > limit:
                raise self._too_large(limit)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large(limit)
            return message

        await self.app(scope, counted, send)
