"""Slow clients against a real `schoolgraph serve` (uvicorn) on a free loopback port: headers or a
body that trickle in past their timeout are answered 408 and the connection closed; connections
beyond the cap are answered 503 at once. The server runs with one-second timeouts and a cap of
five connections; the tests assert what the client sees, never how long it took."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.live import serve

MAX_CONNECTIONS = 5


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[tuple[str, int]]:
    env = {
        "SCHOOLGRAPH_HEADER_TIMEOUT": "1",
        "SCHOOLGRAPH_BODY_TIMEOUT": "1",
        "SCHOOLGRAPH_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    # One worker (`serve`'s test default): the connection cap is per worker process.
    with serve(database_url, env) as base:
        host, _, port = base.removeprefix("http://").partition(":")
        yield host, int(port)


def _answer(connection: socket.socket, wait: float = 15.0) -> tuple[bytes, bool]:
    """Everything the server sends until it closes, and whether it closed within `wait`."""
    connection.settimeout(wait)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        return received, False
    except ConnectionResetError:
        pass
    return received, True


def _trickle(connection: socket.socket, head: bytes, drip: bytes) -> tuple[bytes, bool]:
    """Send `head`, then `drip` byte by byte (ten a second) until the server answers or closes;
    at most twenty seconds' worth."""
    connection.sendall(head)
    for byte in drip * 200:
        readable, _, _ = select.select([connection], [], [], 0.1)
        if readable:
            break
        try:
            connection.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
    return _answer(connection)


def test_headers_that_trickle_in_are_answered_408_and_closed(server):
    with socket.create_connection(server) as connection:
        answer, closed = _trickle(connection, b"GET /healthz HTTP/1.1\r\nX-Slow: ", b"a")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"REQUEST_TIMEOUT" in answer
    assert closed


def test_a_connection_that_sends_nothing_is_closed(server):
    with socket.create_connection(server) as connection:
        answer, closed = _answer(connection)
    assert closed
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_body_that_trickles_in_is_answered_408_and_closed(server):
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4000\r\n\r\n"
    )
    with socket.create_connection(server) as connection:
        answer, closed = _trickle(connection, head + b'{"query": "', b"a")
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    assert orjson.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert closed


def test_a_prompt_client_is_served_and_kept_alive(server):
    host, port = server
    with httpx.Client(base_url=f"http://{host}:{port}") as client:
        first = client.post("/graphql", json={"query": "{ __typename }"})
        second = client.get("/healthz")
    assert first.status_code == 200
    assert first.json()["data"] == {"__typename": "Query"}
    assert second.status_code == 200
    assert second.text == "ok"


def test_connections_beyond_the_cap_are_refused_with_503(server):
    idle = [socket.create_connection(server) for _ in range(MAX_CONNECTIONS)]
    try:
        with socket.create_connection(server) as extra:
            answer, closed = _answer(extra)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1" in answer.lower()
        assert closed
    finally:
        for connection in idle:
            connection.close()
    # Once they are gone, new connections are served again.
    host, port = server
    for _ in range(100):
        response = httpx.get(f"http://{host}:{port}/healthz", timeout=5.0)
        if response.status_code == 200:
            break
        time.sleep(0.1)
    assert response.status_code == 200
