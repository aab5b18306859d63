"""The pieces `scripts/soak` relies on: its own PostgreSQL cluster survives the SIGKILL the soak
deals it with its committed data, and the soak's check of the teacher's marks catches a lost
acknowledged write. (The soak itself runs for minutes: `scripts/soak`, docs/reliability.md.)"""

from __future__ import annotations

import asyncpg
import pytest

from bench.cluster import Cluster
from bench.soak import Write, _check_last_marks


async def _query(url: str, statement: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


async def test_the_soak_cluster_comes_back_from_sigkill_with_its_committed_data():
    with Cluster() as cluster:
        url = cluster.url()
        await _query(url, "CREATE TABLE kept AS SELECT 42 AS answer")
        killed = cluster.postmaster_pid()

        cluster.kill()
        with pytest.raises((OSError, asyncpg.PostgresError)):
            await _query(url, "SELECT 1")
        cluster.start()

        assert cluster.postmaster_pid() != killed
        assert await _query(url, "SELECT answer FROM kept") == 42
        assert cluster.url().startswith("postgresql://postgres@127.0.0.1:")
    assert cluster.processes() == []
    assert not cluster.root.exists()


def _marks(*outcomes: str) -> list[Write]:
    pair = ("student", "class")
    return [
        Write("mark", f"m{i}", score="50.00", pair=pair, outcome=outcome)
        for i, outcome in enumerate(outcomes)
    ]


def test_the_last_acknowledged_mark_must_be_the_one_left():
    writes = _marks("acknowledged", "acknowledged")
    assert _check_last_marks(writes, {"m1": {}}) == []
    assert _check_last_marks(writes, {"m0": {}})  # the later acknowledged write was lost
    assert _check_last_marks(writes, {})  # nothing left at all


def test_a_later_write_without_an_answer_may_be_the_one_left():
    writes = _marks("acknowledged", "unknown", "refused")
    assert _check_last_marks(writes, {"m1": {}}) == []
    assert _check_last_marks(writes, {"m2": {}}) == []
    assert _check_last_marks(_marks("refused", "acknowledged"), {"m0": {}})
