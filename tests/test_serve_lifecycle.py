"""`schoolgraph serve` as a process manager runs it: on its own embedded PostgreSQL (a fresh
SCHOOLGRAPH_HOME, no DATABASE_URL), stopped with SIGTERM. The process must exit and take the
embedded PostgreSQL of its data directory with it, with one worker or several."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_of(pgdata: Path) -> list[psutil.Process]:
    """The postgres processes serving `pgdata` (the postmaster names it on its command line)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and any(str(pgdata) in part for part in cmdline):
            found.append(process)
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SCHOOLGRAPH_HOME for the module: the first test seeds it, the next reuses it."""
    return tmp_path_factory.mktemp("schoolgraph-home")


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_the_server_and_its_embedded_postgres(home: Path, workers: int):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["SCHOOLGRAPH_HOME"] = str(home)
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pgdata = (home / "pgdata").resolve()
    try:
        deadline = time.monotonic() + 300  # a first start creates and seeds the database
        while time.monotonic() < deadline:
            assert process.poll() is None, "schoolgraph serve exited before serving"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("schoolgraph serve did not answer /healthz")
        assert _postgres_of(pgdata), "the embedded PostgreSQL should be running"

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)

        for _ in range(100):  # `pg_ctl stop` has returned; its children may take a moment
            if not _postgres_of(pgdata):
                break
            time.sleep(0.1)
        assert _postgres_of(pgdata) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for leftover in _postgres_of(pgdata):  # never leave a server behind a failed test
            leftover.kill()
