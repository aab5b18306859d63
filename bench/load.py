"""Load generators: wrk (C, one thread) with `bench/wrk.lua`, or a small asyncio client.

Both keep `clients` HTTP/1.1 keep-alive connections busy for `seconds`, each posting the next
body as soon as its previous response has arrived (a closed loop: the concurrency is the number
of clients), and both read the same things from every response: status, GraphQL errors, and
`extensions.sqlStatements` / `extensions.casbinCalls`.

wrk is preferred: on a two-core machine every cycle the load generator burns is taken from the
server under test, and wrk spends a few microseconds per request where a Python client spends
tens. The asyncio client (uvloop, httptools: the parser uvicorn itself uses) needs nothing
beyond the dev dependencies, so `scripts/bench --quick` and the tests run anywhere.

Usage:

```python
client = choose_client("auto")      # wrk when it is installed
result = client.run("http://127.0.0.1:8000/graphql", bodies, token, clients=32, seconds=10)
result.rps, result.p50
```
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools
import uvloop

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class LoadResult:
    requests: int  # responses received
    seconds: float
    p50: float  # latency percentiles, milliseconds
    p95: float
    p99: float
    failed: int  # transport errors, non-200 answers and answers carrying GraphQL errors
    statements: int  # sum of `extensions.sqlStatements` over the responses that had it
    casbin_calls: int  # sum of `extensions.casbinCalls`
    parsed: int  # responses that had `extensions.sqlStatements`
    compiled: int = 0  # responses the compiled path answered (`extensions.compiled`)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def statements_per_request(self) -> float | None:
        return self.statements / self.parsed if self.parsed else None

    @property
    def casbin_per_request(self) -> float | None:
        return self.casbin_calls / self.parsed if self.parsed else None

    @property
    def compiled_share(self) -> float | None:
        """The share of answers that reported how they were answered and came compiled."""
        return self.compiled / self.parsed if self.parsed else None


class LoadClient(Protocol):
    name: str

    def run(
        self, url: str, bodies: Sequence[bytes], token: str, *, clients: int, seconds: float
    ) -> LoadResult: ...


def choose_client(kind: str) -> LoadClient:
    """`wrk`, `python`, or `auto`: wrk when it is on PATH, else the asyncio client."""
    if kind == "wrk" or (kind == "auto" and shutil.which("wrk")):
        if not shutil.which("wrk"):
            raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
        return Wrk()
    return PythonClient()


# --- wrk ----------------------------------------------------------------------------------------


class Wrk:
    name = "wrk"

    def run(
        self, url: str, bodies: Sequence[bytes], token: str, *, clients: int, seconds: float
    ) -> LoadResult:
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as lines:
            lines.write(b"\n".join(bodies) + b"\n")
            lines.flush()
            command = [
                "wrk",
                "--threads=1",  # one thread keeps up with any Python server, and leaves a core
                f"--connections={clients}",
                f"--duration={max(1, round(seconds))}s",
                "--timeout=60s",
                f"--script={WRK_SCRIPT}",
                url,
                "--",
                lines.name,
                token,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
        raw = json.loads(line.removeprefix("BENCH "))
        return LoadResult(
            requests=raw["requests"],
            seconds=raw["seconds"],
            p50=raw["p50"],
            p95=raw["p95"],
            p99=raw["p99"],
            failed=raw["failed"] + raw["errors"],
            statements=raw["statements"],
            casbin_calls=raw["casbin"],
            parsed=raw["parsed"],
            compiled=raw["compiled"],
        )


# --- asyncio client -----------------------------------------------------------------------------

_STATEMENTS = re.compile(rb'"sqlStatements":\s*(\d+)')
_CASBIN = re.compile(rb'"casbinCalls":\s*(\d+)')
_COMPILED = re.compile(rb'"compiled":\s*true')


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `send` writes a request and waits for the whole response."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._body: list[bytes] = []
        self._response: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._body)
        self._body.clear()
        if self._response is not None and not self._response.done():
            self._response.set_result((self._parser.get_status_code(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._response is not None and not self._response.done():
            self._response.set_exception(ConnectionError(exc or "the server closed"))

    @property
    def open(self) -> bool:
        return self._transport is not None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self._transport is None:
            raise ConnectionError("not connected")
        self._response = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._response

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of sorted values (what wrk's histogram approximates)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _extension(pattern: re.Pattern[bytes], body: bytes) -> int | None:
    # `extensions` comes last: look there first instead of scanning a long body.
    start = body.rfind(b'"extensions"')
    found = pattern.search(body, max(start, 0))
    return int(found.group(1)) if found else None


class PythonClient:
    name = "python"

    def run(
        self, url: str, bodies: Sequence[bytes], token: str, *, clients: int, seconds: float
    ) -> LoadResult:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(self._run(url, bodies, token, clients, seconds))

    async def _run(
        self, url: str, bodies: Sequence[bytes], token: str, clients: int, seconds: float
    ) -> LoadResult:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        requests = [
            (
                f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for body in bodies
        ]
        latencies: list[float] = []
        tally = {"failed": 0, "statements": 0, "casbin": 0, "parsed": 0, "compiled": 0}
        loop = asyncio.get_running_loop()
        answered = asyncio.Event()  # a response arrived (or a client gave up)
        stop = asyncio.Event()  # send no more: what is in flight is drained, not counted

        async def connect() -> _Connection:
            _, connection = await loop.create_connection(_Connection, host, port)
            return connection

        async def client(offset: int) -> None:
            connection = await connect()
            position = offset
            try:
                while not stop.is_set():
                    request = requests[position % len(requests)]
                    position += 1
                    sent = time.perf_counter()
                    try:
                        status, body = await connection.send(request)
                    except ConnectionError:
                        tally["failed"] += 1
                        connection = await connect()
                        continue
                    if stop.is_set():
                        break
                    latencies.append(time.perf_counter() - sent)
                    answered.set()
                    if status != 200 or b'"errors"' in body:
                        tally["failed"] += 1
                    statements = _extension(_STATEMENTS, body)
                    if statements is not None:
                        tally["statements"] += statements
                        tally["parsed"] += 1
                    tally["casbin"] += _extension(_CASBIN, body) or 0
                    tally["compiled"] += _COMPILED.search(body) is not None
                    if not connection.open:  # the server chose to close: open another
                        connection = await connect()
            finally:
                connection.close()
                answered.set()

        started = time.perf_counter()
        tasks = [asyncio.create_task(client(i)) for i in range(clients)]
        await asyncio.sleep(seconds)
        # Like wrk, count what completed by the deadline; but a cell shorter than one response
        # (--quick) waits for its first response. Then let what is in flight finish uncounted,
        # so that no abandoned request still loads the server during the next measurement.
        await answered.wait()
        stop.set()
        elapsed = time.perf_counter() - started
        await asyncio.gather(*tasks)
        ordered = sorted(latencies)
        return LoadResult(
            requests=len(latencies),
            seconds=elapsed,
            p50=_percentile(ordered, 50) * 1000,
            p95=_percentile(ordered, 95) * 1000,
            p99=_percentile(ordered, 99) * 1000,
            failed=tally["failed"],
            statements=tally["statements"],
            casbin_calls=tally["casbin"],
            parsed=tally["parsed"],
            compiled=tally["compiled"],
        )
