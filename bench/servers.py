"""The servers under test: uvicorn subprocesses on loopback, and their memory.

`without_authorization` is the only way to run SchoolGraph with authorization off: an ASGI
factory in this benchmark-only package, which no deployed server has (`pip install` ships `app`
and `schema`, not `bench`), rather than a setting, variable or flag.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import httpx
import psutil
from starlette.applications import Starlette

from app.asgi import create_app
from app.config import PROJECT_ROOT


def without_authorization() -> Starlette:
    """SchoolGraph with every field of every row allowed and nothing recorded."""
    return create_app(authorization=False)


# ASGI factories of the three servers a benchmark compares.
SCHOOLGRAPH = "app.asgi:create_app"  # exactly what `schoolgraph serve` runs
WITHOUT_AUTHORIZATION = "bench.servers:without_authorization"
FLOOR = "bench.floor:create_app"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """`with Server(...) as server:` runs `uvicorn <factory>` until the block ends (or call
    `start()`, `wait_ready()` and `stop()`)."""

    factory: str
    database_url: str
    workers: int = 1
    port: int = field(default_factory=_free_port)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.start()
        self.wait_ready()
        return self

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            self.factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        env = {**os.environ, "DATABASE_URL": self.database_url}
        # `bench` is importable from the checkout, which is where uvicorn looks first.
        self._process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)  # noqa: S603

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Until the server answers: a hang guard, generous because every server's workers
        start at once, each compiling the policy, on a machine that may be busy."""
        process = self._process
        if process is None:
            raise RuntimeError("the server was not started")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{self.factory} exited with {process.returncode}")
            try:
                httpx.get(self.base_url + "/healthz", timeout=2.0)
                return  # any answer: the floor has no /healthz, but it answers 404
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.factory} did not start within {timeout:.0f} s")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGINT)  # uvicorn shuts down its workers
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _processes(self) -> list[psutil.Process]:
        if self._process is None:
            return []
        try:
            root = psutil.Process(self._process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def wait_idle(self, *, busy_percent: float = 10.0, timeout: float = 60.0) -> None:
        """Wait until the server has finished what a load generator left in flight (wrk stops
        at its deadline without waiting for the answers)."""
        processes = self._processes()
        for process in processes:
            process.cpu_percent()  # starts the measurement
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            used = 0.0
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    used += process.cpu_percent()
            if used < busy_percent:
                return

    def rss(self) -> int:
        """Resident memory of the server and its workers, in bytes."""
        total = 0
        for process in self._processes():
            with contextlib.suppress(psutil.NoSuchProcess):  # a worker may exit meanwhile
                total += process.memory_info().rss
        return total


class PeakMemory:
    """Samples a server's resident memory while the block runs; `peak` is the highest."""

    def __init__(self, server: Server, interval: float = 0.05) -> None:
        self.server = server
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.server.rss())
