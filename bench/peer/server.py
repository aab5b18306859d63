"""PostGraphile v4 as one of the benchmark's servers, configured as a production deployment of the
peer set-up: JWT as the only way in, read-only, no GraphiQL, no query log, connected as the
authenticator so that row-level security applies. `workers > 1` adds `--cluster-workers`
(experimental in v4, and it works), so the peer runs as many processes as SchoolGraph."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.peer.database import JWT_SECRET, authenticator_url
from bench.servers import Server


def _log_file() -> Path:
    descriptor, name = tempfile.mkstemp(prefix="postgraphile-", suffix=".log")
    os.close(descriptor)
    return Path(name)


@dataclass
class PostGraphile(Server):
    executable: Path = Path("postgraphile")
    log: Path = field(default_factory=lambda: _log_file())
    _answered: bool = False

    def command(self) -> list[str]:
        extra = ["--cluster-workers", str(self.workers)] if self.workers > 1 else []
        return [
            str(self.executable),
            "--connection", authenticator_url(self.database_url),
            "--schema", "peer",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--default-role", "peer_anonymous",
            "--jwt-secret", JWT_SECRET,
            "--jwt-verify-algorithms", "HS256",
            "--jwt-verify-audience", "postgraphile",
            "--disable-graphiql",
            "--disable-query-log",
            "--disable-default-mutations",
            "--dynamic-json",
            "--no-setof-functions-contain-nulls",
            "--no-ignore-rbac",
            "--no-ignore-indexes",
            "--max-pool-size", "10",
            "--body-size-limit", "100kB",
            *extra,
        ]  # fmt: skip

    def start(self) -> None:
        env = {**os.environ, "NODE_ENV": "production"}
        with self.log.open("wb") as output:
            # A session of its own: stopping it stops its cluster workers too.
            self._process = subprocess.Popen(  # noqa: S603 (the cached executable)
                self.command(),
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 300.0) -> None:
        try:
            super().wait_ready(timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log is {self.log}") from exc
        self._answered = True

    def stop(self) -> None:
        self._stop()
        if self._answered:  # the log of a server that never answered is kept, to read
            self.log.unlink(missing_ok=True)

    def _stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(ProcessLookupError):  # cluster workers left behind
            os.killpg(process.pid, signal.SIGKILL)
