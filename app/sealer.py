"""The server's sealer: every `SCHOOLGRAPH_SEAL_INTERVAL` seconds it seals each district's new
disclosures (app/seals.py) and, when `SCHOOLGRAPH_CHECKPOINT_DIR` is set (or in development),
exports signed checkpoints (app/checkpoints.py). It runs beside the requests and never blocks them:
a district another worker is sealing is skipped until the next round.

    task = start(engine, settings)   # in the application's lifespan
    ...
    await stop(task)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from app import checkpoints, seals
from app.config import Settings

_log = logging.getLogger(__name__)


async def seal_and_checkpoint(engine: AsyncEngine, settings: Settings) -> list[seals.Seal]:
    """One round: seal every district, then export checkpoints if a directory is configured."""
    made = await seals.seal_all(engine, settings.audit_key)
    if made and settings.checkpoint_dir is not None:
        async with engine.connect() as connection:
            await checkpoints.write_checkpoints(
                connection, audit_key=settings.audit_key, directory=settings.checkpoint_dir
            )
    return made


async def _run(engine: AsyncEngine, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.seal_interval_seconds)
        try:
            await seal_and_checkpoint(engine, settings)
        except checkpoints.CheckpointConflict as exc:
            # The record was altered behind the server: say so loudly, keep serving.
            _log.error("the record of disclosures no longer matches its checkpoint: %s", exc)
        except Exception:  # a failed round must not end the task; the next one retries
            _log.exception("sealing the record of disclosures failed")


def start(engine: AsyncEngine, settings: Settings) -> asyncio.Task[None] | None:
    """Start the sealer (not when the interval is 0: a deployment that seals by cron)."""
    if settings.seal_interval_seconds <= 0:
        return None
    return asyncio.create_task(_run(engine, settings), name="schoolgraph-sealer")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
