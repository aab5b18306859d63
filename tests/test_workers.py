"""`schoolgraph serve` runs one worker process per core unless told otherwise, and what each worker
keeps for itself follows the others: a policy reload reaches every worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import psutil

from app import policy, policy_sync
from app.config import get_settings
from tests.live import SCHOOLGRAPH, serving
from tests.test_policy import _classmate, sid

# SCHOOLGRAPH_WORKERS as if unset (empty values read as unset).
DEFAULT = {"SCHOOLGRAPH_WORKERS": ""}


def _workers(process: subprocess.Popen[bytes]) -> int:
    """The worker processes uvicorn spawned (none: it serves in the process itself)."""
    children = psutil.Process(process.pid).children(recursive=True)
    return sum(1 for child in children if "spawn_main" in " ".join(child.cmdline()))


def test_serve_runs_one_worker_per_core_unless_told(database_url: str) -> None:
    cores = get_settings().workers  # the CPUs this process may run on, as serve reads them
    with serving(database_url, env=DEFAULT) as (_, process):
        assert _workers(process) == (cores if cores > 1 else 0)
    # The variable says how many; the option says it over the variable.
    with serving(database_url, "--workers", "1", env={"SCHOOLGRAPH_WORKERS": "3"}) as (_, process):
        assert _workers(process) == 0


def test_zero_workers_is_refused(database_url: str) -> None:
    done = subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "serve", "--port", "1"],
        env={**os.environ, "DATABASE_URL": database_url, "SCHOOLGRAPH_WORKERS": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "SCHOOLGRAPH_WORKERS must be at least 1" in done.stdout + done.stderr


async def test_a_policy_reload_reaches_every_worker(
    database_url: str,
    db: asyncpg.Connection,
    token_for: Callable[[str], Awaitable[str]],
    tmp_path: Path,
) -> None:
    shutil.copytree(policy.POLICY_DIR, tmp_path, dirs_exist_ok=True)
    mate = await _classmate(db)
    headers = {"Authorization": f"Bearer {await token_for('student')}"}
    body = {
        "query": "query ($id: ID!) { student(id: $id) { firstName } }",
        "variables": {"id": sid(mate)},
    }
    env = {"SCHOOLGRAPH_WORKERS": "2", "SCHOOLGRAPH_POLICY_DIR": str(tmp_path)}
    # A connection per request: the kernel hands each to whichever worker accepts it.
    limits = httpx.Limits(max_keepalive_connections=0)
    with serving(database_url, env=env) as (base, process):
        assert _workers(process) == 2
        async with httpx.AsyncClient(
            base_url=base, headers=headers, limits=limits, timeout=60
        ) as client:

            async def first_names(times: int) -> list[object]:
                answers = [await client.post("/graphql", json=body) for _ in range(times)]
                return [a.json()["data"]["student"]["firstName"] for a in answers]

            assert None not in await first_names(10)
            policy_file = tmp_path / "policy.csv"
            policy_file.write_text(
                policy_file.read_text().replace(
                    "p, student, classmate, Student.firstName, read\n", ""
                )
            )
            await policy_sync.notify(database_url)
            for _ in range(100):  # each worker's listener runs on its own connection
                if set(await first_names(10)) == {None}:
                    break
                await asyncio.sleep(0.1)
            assert set(await first_names(40)) == {None}
