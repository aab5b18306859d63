"""Run the benchmark: `scripts/bench [--students N] [--quick] [--workers W] [--database-url URL]`.

1. Prepare the database (`bench.database`): the template with N students, a fresh copy per run.
2. Start three uvicorn servers on loopback over that copy, with the same worker count:
   SchoolGraph as deployed, SchoolGraph with authorization off, and the hand-written floor; with
   `--peer`, PostGraphile v4 too, on a copy of its own (`bench.peer`), with as many processes.
3. For every scenario: build its request bodies, send each once to every server (the floor and
   the peer must return the same rows as SchoolGraph), then at each concurrency warm up and
   measure every server in turn while sampling its memory.
4. Print the table; write `benchmarks.md`, `benchmarks.json` and `benchmarks.png` (into `docs/`
   for a full run; `--quick` writes into a temporary directory unless `--output` is given).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from app.auth import issue_token
from app.config import PROJECT_ROOT, get_settings
from app.database import asyncpg_dsn, resolve_admin_url, setup_roles
from app.roles import APP_ROLE, with_user
from bench import database, report
from bench.load import LoadClient, LoadResult, choose_client
from bench.peer import compare
from bench.peer import database as peer_database
from bench.peer.install import PeerUnavailable, postgraphile
from bench.peer.server import PostGraphile
from bench.scenarios import SCENARIOS, Body, Scenario
from bench.servers import FLOOR, SCHOOLGRAPH, WITHOUT_AUTHORIZATION, PeakMemory, Server

# The servers every scenario runs against, in the order they are measured.
SCHOOLGRAPH_NAME = "SchoolGraph"
NO_AUTHZ_NAME = "authorization off"
FLOOR_NAME = "asyncpg floor"
PEER_NAME = "PostGraphile v4"


@dataclass(frozen=True)
class Cell:
    """One measurement: a scenario, a server, a concurrency."""

    scenario: str
    server: str
    clients: int
    result: LoadResult
    peak_rss_mib: float
    response_kib: float  # mean size of the scenario's responses from this server


@dataclass
class Results:
    options: dict[str, Any]
    machine: dict[str, Any]
    cells: list[Cell]
    started: str
    finished: str = ""

    def to_json(self) -> dict[str, Any]:
        cells = []
        for cell in self.cells:
            r = cell.result
            cells.append(
                {
                    **{k: v for k, v in asdict(cell).items() if k != "result"},
                    **asdict(r),
                    "rps": r.rps,
                    "statements_per_request": r.statements_per_request,
                    "casbin_per_request": r.casbin_per_request,
                    "compiled_share": r.compiled_share,
                }
            )
        return {
            "options": self.options,
            "machine": self.machine,
            "started": self.started,
            "finished": self.finished,
            "cells": cells,
        }


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description="Benchmark SchoolGraph (SPEC §10)."
    )
    parser.add_argument("--students", type=int, help="district size (default 100,000; quick 400)")
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run; leaves docs/ alone"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="processes per server (default: as `schoolgraph serve`, one per core; quick 1)",
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="also PostGraphile v4 with row-level security (Node.js and npm needed)",
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server, a superuser's URL (default: SCHOOLGRAPH_MIGRATE_URL/embedded)",
    )
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--clients", help="concurrency levels, comma-separated (default 1,32; quick 1,4)"
    )
    parser.add_argument("--seconds", type=float, help="seconds per round (default 10)")
    parser.add_argument("--rounds", type=int, help="measured rounds per cell (default 3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 3)")
    parser.add_argument("--only", help="scenario keys to run, comma-separated")
    parser.add_argument("--output", type=Path, help="where to write benchmarks.md/.json/.png")
    parser.add_argument("--reseed", action="store_true", help="rebuild the template database")
    args = parser.parse_args(argv)
    args.students = args.students or (400 if args.quick else 100_000)
    args.workers = args.workers or (1 if args.quick else get_settings().workers)
    args.seconds = args.seconds or (0.5 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0.2 if args.quick else 3.0)
    args.clients = [int(c) for c in (args.clients or ("1,4" if args.quick else "1,32")).split(",")]
    if args.output is None:
        args.output = (
            Path(tempfile.mkdtemp(prefix="schoolgraph-bench-"))
            if args.quick
            else PROJECT_ROOT / "docs"
        )
    return args


async def _user_ids(url: str, usernames: set[str]) -> dict[str, int]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT username, id FROM app_user WHERE username = ANY($1)", list(usernames)
        )
    finally:
        await connection.close()
    return {r["username"]: r["id"] for r in rows}


def _encode(body: Body) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


class _Probe:
    """Sends single requests (not load) to a server as one user."""

    def __init__(self, server: Server, path: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=300,
        )
        self.path = path

        self.sizes: list[int] = []

    def fetch(self, body: Body) -> dict[str, Any]:
        response = self.client.post(self.path, content=_encode(body))
        self.sizes.append(len(response.content))
        payload: dict[str, Any] = response.json()
        if response.status_code != 200 or payload.get("errors"):
            raise ScenarioFailed(
                f"{self.path} answered {_first_error(payload, response.status_code)}"
            )
        return payload

    @property
    def response_kib(self) -> float:
        return sum(self.sizes) / len(self.sizes) / 1024 if self.sizes else 0.0

    def close(self) -> None:
        self.client.close()


class ScenarioFailed(Exception):
    """A probe request answered an error: the scenario cannot be measured."""


def _first_error(payload: dict[str, Any], status: int) -> str:
    errors = payload.get("errors") or [{"message": f"HTTP {status}"}]
    return str(errors[0].get("message")).splitlines()[0]


def _machine(server_url: str, client: LoadClient, *, sample: float) -> dict[str, Any]:
    from importlib.metadata import version

    async def postgres_version() -> str:
        connection = await asyncpg.connect(asyncpg_dsn(server_url))
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    import asyncio
    import platform
    import subprocess

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    load_client = client.name
    if client.name == "wrk":
        shown = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
        load_client = (shown.stdout or shown.stderr).splitlines()[0].split(" [")[0]
    # Other processes' CPU use just before the run: the machine may be shared.
    busy = psutil.cpu_percent(interval=sample)
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "postgresql": asyncio.run(postgres_version()),
        "strawberry": version("strawberry-graphql"),
        "uvicorn": version("uvicorn"),
        "starlette": version("starlette"),
        "sqlalchemy": version("sqlalchemy"),
        "asyncpg": version("asyncpg"),
        "load_client": load_client,
        "cpu_busy_before_percent": busy,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def _postgraphile_versions(executable: Path) -> str:
    """PostGraphile's and Node's versions, as the machine line shows them."""
    import subprocess

    package = executable.parent.parent / "postgraphile" / "package.json"
    version = json.loads(package.read_text())["version"]
    node = subprocess.run(["node", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    return f"PostGraphile {version}, Node {node.stdout.strip().lstrip('v')}"


def _casbin_calls(server: Server) -> int | None:
    """Casbin calls the server made so far (compiling the policy at start), from /metrics."""
    for line in httpx.get(server.base_url + "/metrics", timeout=30).text.splitlines():
        if line.startswith("schoolgraph_casbin_calls_total "):
            return int(float(line.split()[1]))
    return None


def _measure(
    client: LoadClient,
    server: Server,
    path: str,
    bodies: list[bytes],
    token: str,
    *,
    clients: int,
    seconds: float,
    warmup: float,
) -> tuple[LoadResult, float]:
    url = server.base_url + path
    if warmup > 0:
        client.run(url, bodies, token, clients=clients, seconds=warmup)
        server.wait_idle()
    with PeakMemory(server) as memory:
        result = client.run(url, bodies, token, clients=clients, seconds=seconds)
    server.wait_idle()
    return result, memory.peak / 2**20


def _run_scenario(
    scenario: Scenario,
    servers: dict[str, Server],
    tokens: dict[str, str],
    args: argparse.Namespace,
    client: LoadClient,
    peer_tokens: dict[str, str],
) -> list[Cell]:
    token = tokens[scenario.user]
    on = _Probe(servers[SCHOOLGRAPH_NAME], "/graphql", token)
    off = _Probe(servers[NO_AUTHZ_NAME], "/graphql", token)
    floor = _Probe(servers[FLOOR_NAME], scenario.floor or "/", token)
    with_peer = scenario.peer is not None and PEER_NAME in servers
    peer = _Probe(servers[PEER_NAME], "/graphql", peer_tokens[scenario.user]) if with_peer else None
    peer_body = {"query": scenario.peer}
    try:
        bodies = scenario.bodies(on.fetch)
        on.sizes.clear()
        # Every body once on every server: errors surface here, not as a column of failures.
        for body in bodies:
            expected = on.fetch(body)["data"]
            off.fetch(body)
            if scenario.floor and floor.fetch(body)["data"] != expected:
                raise RuntimeError(f"the floor of {scenario.key} returns other data")
            if peer is not None:
                theirs = compare.peer_rows(peer.fetch(peer_body)["data"])
                if theirs != compare.schoolgraph_rows(expected):
                    raise RuntimeError(f"PostGraphile returns other rows for {scenario.key}")
    finally:
        for probe in (on, off, floor, peer):
            if probe is not None:
                probe.close()
    sizes = {SCHOOLGRAPH_NAME: on, NO_AUTHZ_NAME: off, FLOOR_NAME: floor}
    encoded = [_encode(b) for b in bodies]
    # (server, path, bodies, token)
    targets = [
        (SCHOOLGRAPH_NAME, "/graphql", encoded, token),
        (NO_AUTHZ_NAME, "/graphql", encoded, token),
    ]
    if scenario.floor:
        targets.append((FLOOR_NAME, scenario.floor, encoded, token))
    if peer is not None:
        sizes[PEER_NAME] = peer
        targets.append((PEER_NAME, "/graphql", [_encode(peer_body)], peer_tokens[scenario.user]))
    cells = []
    for clients in args.clients:
        # Interleaved rounds (A B C, B C A, C A B, ...): a change in the machine's other load
        # falls on every server alike. Each server's figures are its median round by
        # throughput; its peak memory, the highest of any round.
        runs: dict[str, list[tuple[LoadResult, float]]] = {t[0]: [] for t in targets}
        for number in range(args.rounds):
            shift = number % len(targets)
            for name, path, sent, bearer in targets[shift:] + targets[:shift]:
                runs[name].append(
                    _measure(
                        client,
                        servers[name],
                        path,
                        sent,
                        bearer,
                        clients=clients,
                        seconds=args.seconds,
                        warmup=args.warmup if number == 0 else 0.0,
                    )
                )
        for name, *_ in targets:
            ordered = sorted(runs[name], key=lambda run: run[0].rps)
            result = ordered[len(ordered) // 2][0]
            peak = max(p for _, p in ordered)
            kib = round(sizes[name].response_kib, 1)
            cell = Cell(scenario.key, name, clients, result, round(peak, 1), kib)
            print(report.progress_line(cell), flush=True)
            cells.append(cell)
    return cells


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    client = choose_client(args.client)
    # A superuser's URL: the benchmark makes databases; its servers log in as the application role.
    server_url = args.database_url or resolve_admin_url(get_settings())
    scenarios = [s for s in SCENARIOS if not args.only or s.key in args.only.split(",")]
    results = Results(
        options={
            "students": args.students,
            "workers": args.workers,
            "peer": args.peer,
            "clients": args.clients,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "quick": args.quick,
        },
        machine=_machine(server_url, client, sample=0.3 if args.quick else 2.0),
        cells=[],
        started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    template = database.prepare_template(
        server_url, students=args.students, reseed=args.reseed, progress=not args.quick
    )
    executable = None
    if args.peer:
        try:
            executable = postgraphile()
        except PeerUnavailable as exc:
            print(f"{exc}; measuring without it", flush=True)
    run_url = database.copy_database(template, suffix="run")
    peer_url = peer_database.prepare(template) if executable else None
    try:
        import asyncio

        # A template an older version made as `postgres` is handed to the owner role here.
        asyncio.run(setup_roles(run_url))

        ids = asyncio.run(_user_ids(run_url, {s.user for s in scenarios}))
        settings = get_settings()
        tokens = {u: issue_token(i, settings, ttl=timedelta(hours=6)) for u, i in ids.items()}
        peer_tokens = {u: peer_database.token(i) for u, i in ids.items()}
        with contextlib.ExitStack() as stack:
            servers = {
                name: Server(factory, with_user(run_url, APP_ROLE), workers=args.workers)
                for name, factory in (
                    (SCHOOLGRAPH_NAME, SCHOOLGRAPH),
                    (NO_AUTHZ_NAME, WITHOUT_AUTHORIZATION),
                    (FLOOR_NAME, FLOOR),
                )
            }
            if executable is not None and peer_url is not None:
                servers[PEER_NAME] = PostGraphile(
                    "postgraphile", peer_url, workers=args.workers, executable=executable
                )
                results.machine["postgraphile"] = _postgraphile_versions(executable)
            for server in servers.values():  # started together, as they start slowly
                stack.callback(server.stop)
                server.start()
            for server in servers.values():
                server.wait_ready()
            results.machine["casbin_calls_at_start"] = _casbin_calls(servers[SCHOOLGRAPH_NAME])
            print(report.header(results, client.name), flush=True)
            for scenario in scenarios:
                results.cells += _run_scenario(scenario, servers, tokens, args, client, peer_tokens)
    finally:
        database.drop_database(run_url)
        if peer_url is not None:
            database.drop_database(peer_url)
    results.finished = datetime.now(UTC).isoformat(timespec="seconds")
    print()
    print(report.text_table(results))
    written = report.write(results, args.output)
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0
