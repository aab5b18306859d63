"""`scripts/bench --quick` end to end, on the test server: every scenario is measured against
every server and the figures are sane. Nothing here depends on how fast the machine is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from app.config import PROJECT_ROOT
from bench.scenarios import SCENARIOS

FLOORED = {s.key for s in SCENARIOS if s.floor}


def test_quick_benchmark_measures_every_scenario(admin_database_url: str, tmp_path: Path) -> None:
    docs = PROJECT_ROOT / "docs" / "benchmarks.md"
    docs_before = docs.read_text() if docs.exists() else None
    done = subprocess.run(  # noqa: S603
        [
            str(PROJECT_ROOT / "scripts" / "bench"),
            "--quick",
            "--students=400",
            # The server, as a superuser: the benchmark keeps its own databases, and its servers
            # log in as the application role.
            f"--database-url={admin_database_url}",
            "--client=python",
            f"--output={tmp_path}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,  # a hang guard, not a performance limit
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    for scenario in SCENARIOS:
        assert scenario.title in done.stdout
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    cells = results["cells"]
    measured = {(c["scenario"], c["server"], c["clients"]) for c in cells}
    for scenario in SCENARIOS:
        servers = {"SchoolGraph", "authorization off"} | (
            {"asyncpg floor"} if scenario.key in FLOORED else set()
        )
        for server in servers:
            for clients in (1, 4):
                assert (scenario.key, server, clients) in measured

    for cell in cells:
        where = f"{cell['scenario']} on {cell['server']} at {cell['clients']}"
        assert cell["requests"] > 0 and cell["rps"] > 0, where
        assert cell["failed"] == 0, where
        assert 0 < cell["p50"] <= cell["p95"] <= cell["p99"], where
        assert cell["statements_per_request"] > 0, where
        assert cell["casbin_per_request"] == 0, where  # the policy is compiled once, at start
        assert cell["peak_rss_mib"] > 0 and cell["response_kib"] > 0, where
        # The teacher's directory compiles (docs/execution.md); the baseline never does.
        if cell["scenario"] == "teacher-directory" and cell["server"] == "SchoolGraph":
            assert cell["compiled_share"] == 1, where
        if cell["server"] == "authorization off":
            assert cell["compiled_share"] == 0, where

    page = (tmp_path / "benchmarks.md").read_text()
    assert "| teacher dashboard | SchoolGraph | 1 |" in page
    assert "authorization on/off" in page and "SchoolGraph/floor" in page
    assert (tmp_path / "benchmarks.png").stat().st_size > 0
    # --quick never rewrites the committed page.
    assert (docs.read_text() if docs.exists() else None) == docs_before
