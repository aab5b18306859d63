"""Policy reload across every worker process, through PostgreSQL `LISTEN/NOTIFY`.

`schoolgraph policy reload` (or any client) runs `NOTIFY schoolgraph_policy`; each worker listens
on its own connection, recompiles the files in `policies/` and swaps the compiled policy in one
assignment, so a request in flight keeps the version it started with. A file that fails
`policy check` is not loaded: the worker keeps the previous policy and logs why.

A worker loads the files before it listens, so a change notified in between would pass it by: once
listening, it compares the files with what it loaded (`fingerprint`) and reads them again if they
differ.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import asyncpg

from app import policy
from app.database import asyncpg_dsn

CHANNEL = "schoolgraph_policy"
_log = logging.getLogger(__name__)


def fingerprint(directory: Path) -> str:
    """A digest of the policy files as they are now."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.is_file():
            content = path.read_bytes()
            digest.update(f"{path.name}\0{len(content)}\0".encode())
            digest.update(content)
    return digest.hexdigest()


def reload_into(holder: Any, directory: Path = policy.POLICY_DIR) -> bool:
    source = fingerprint(directory)  # before reading: a change made meanwhile differs from it
    problems = policy.check(directory)
    if problems:
        _log.error("policy not reloaded; fix these first: %s", "; ".join(problems))
        return False
    holder.current = policy.load_policy(directory)
    holder.source = source
    _log.info("policy reloaded")
    return True


async def listen(url: str, holder: Any, directory: Path = policy.POLICY_DIR) -> asyncpg.Connection:
    connection = await asyncpg.connect(asyncpg_dsn(url))

    def on_notify(*_args: Any) -> None:
        reload_into(holder, directory)

    await connection.add_listener(CHANNEL, on_notify)
    if fingerprint(directory) != holder.source:
        reload_into(holder, directory)
    return connection


async def notify(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f"NOTIFY {CHANNEL}")
    finally:
        await connection.close()
