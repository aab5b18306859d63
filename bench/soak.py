"""`scripts/soak`: mixed roles at 64 clients for N minutes while PostgreSQL crashes and the server
is stopped with SIGTERM; then whether every answer, write and disclosure held.

    scripts/soak                        # 3 minutes, the shortest run that judges memory
    scripts/soak --minutes 5 --json soak.json --log serve.log   # docs/reliability.md's run

What it does, all on loopback and in temporary directories, bounded in time and requests:

1. Starts a PostgreSQL cluster of its own (`bench.cluster`), and `schoolgraph serve` over it (which
   migrates and seeds the demo district), with its own SCHOOLGRAPH_HOME.
2. Logs in as the demo accounts and runs `--clients` clients, each picking a screen at random:
   teacher dashboard, guardian's child view, coordinator paging through the directory, student
   portfolio, district report as admin, and two writes, each carrying a unique marker: `recordMark`
   by the teacher (comment = marker) and `addPortfolioItem` by the student (title = marker).
3. At 30% of the time it SIGKILLs the postmaster, waits `--outage` seconds and starts it again
   (crash recovery); at 65% it SIGTERMs the server, waits for it to exit and starts a new one.
4. At the end it reports requests and outcomes by status (and by phase), checks the writes in the
   database, runs `schoolgraph audit verify`, and compares the server's memory (RSS of the process
   and its workers, sampled every second) at the start and end of each server's life.

The verdict (exit status 0 or 1) is the conjunction of:
- no 5xx answer other than 503 (a database outage may answer 503; nothing may answer 500);
- every acknowledged write is in the database, none twice, and no write is half-applied (a mark
  or item without its audit record, an audit record without its row, a score not the one sent);
- for every (student, class) the teacher wrote, the mark left is the last acknowledged write or a
  later write whose outcome the client could not know (no acknowledged write was overwritten by an
  older one, none lost);
- the record of disclosures verifies;
- memory is flat: at the end of each server's life its RSS is at most 25% above its RSS after a
  minute of warm-up (a life shorter than 90 s is not judged; at least one must be: --minutes 3);
- the server exits by itself on SIGTERM, midway and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from app.database import ensure_database
from app.encryption import KEYS_SQL, Keyring, MasterKey, data_keys, parse_master_key
from app.roles import APP_ROLE, with_user
from app.seed import DEMO_PASSWORD
from bench.cluster import Cluster, free_port
from bench.scenarios import (
    CHILD_VIEW,
    COORDINATOR_DIRECTORY,
    DISTRICT_REPORT,
    STUDENT_PORTFOLIO,
    TEACHER_DASHBOARD,
)

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")
ACCOUNTS = ("teacher", "guardian", "coordinator", "student", "admin")
# Responses that must never carry driver or SQL text (counted, and shown in the report).
LEAK_MARKERS = (b"[SQL:", b"asyncpg", b"Traceback", b"sqlalchemy")
# Memory is flat when a server's RSS at the end of its life is at most this much above its RSS
# after warm-up. Warming fills bounded caches (asyncpg's prepared statements, 100 per pooled
# connection; SQLAlchemy's compiled statements; our parsed SQL texts): in a 5-minute run the RSS
# rose for the first minutes, so a life is judged only from a minute on, and only if it lasts
# another 30 s after that.
FLAT_MEMORY_RATIO = 1.25
WARM_UP_SECONDS = 60.0
JUDGED_SECONDS = 30.0

LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(input: {username: $username, password: $password}) { token userErrors { message } }
}
"""
TEACHER_PAIRS = """
{ classes(mine: true, first: 20) { edges { node {
    id students(first: 100) { edges { node { id } } } } } } }
"""
RECORD_MARK = """
mutation RecordMark($input: RecordMarkInput!) {
  recordMark(input: $input) { mark { id score comment } userErrors { code message } }
}
"""
ADD_ITEM = """
mutation AddItem($input: AddPortfolioItemInput!) {
  addPortfolioItem(input: $input) { item { id title } userErrors { code message } }
}
"""
# How often each screen is picked (writes included).
WEIGHTS = {
    "teacher dashboard": 20,
    "guardian child view": 15,
    "coordinator paging": 15,
    "student portfolio": 15,
    "admin report": 10,
    "recordMark": 20,
    # Every item lands in the one demo student's portfolio, which the portfolio screen reads
    # whole: kept rare so that screen stays the same size through the run.
    "addPortfolioItem": 2,
}


# --- the server ------------------------------------------------------------------------------


class ServeProcess:
    """`schoolgraph serve` over the soak's cluster; RSS of it and its workers; SIGTERM."""

    def __init__(self, database_url: str, home: Path, workers: int) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # As deployed (docs/deployment.md): the server logs in as the application role, and
        # migrates (creating the roles on first start) through the superuser's URL.
        self.env = {
            **os.environ,
            "DATABASE_URL": with_user(database_url, APP_ROLE),
            "SCHOOLGRAPH_MIGRATE_URL": database_url,
            "SCHOOLGRAPH_HOME": str(home),
        }
        self.workers = workers
        self.log = home / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own executable, fixed arguments)
                [SCHOOLGRAPH, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"schoolgraph serve exited; see {self.log}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base_url + "/healthz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"schoolgraph serve did not answer /healthz in {timeout:.0f} s")

    def terminate(self, timeout: float = 60.0) -> bool:
        """SIGTERM; True if it exited by itself within `timeout` (else it is killed)."""
        if self.process is None or self.process.poll() is not None:
            return True
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            self.kill()
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            self.process.kill()
            self.process.wait()

    def rss(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return 0
        total = 0
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            for process in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += process.memory_info().rss
        return total


class MemorySampler:
    """RSS of the current server once a second, tagged with which server (life 1, 2, ...)."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, float, int]] = []  # (life, seconds into that life, bytes)
        # (server, its life's number, when it was born), swapped whole so that a sample is never
        # tagged with one life and timed from another
        self._following: tuple[ServeProcess, int, float] | None = None
        self._lives = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def follow(self, server: ServeProcess | None) -> None:
        """Sample `server` from now on as a new life (None: pause)."""
        if server is None:
            self._following = None
        else:
            self._lives += 1
            self._following = (server, self._lives, time.monotonic())

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            following = self._following
            if following is None:
                continue
            server, life, born = following
            rss = server.rss()
            if rss:
                self.samples.append((life, time.monotonic() - born, rss))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def lives(self) -> list[dict[str, Any]]:
        result = []
        for life in sorted({s[0] for s in self.samples}):
            samples = [(age, rss) for n, age, rss in self.samples if n == life]
            warm = [(age, rss) for age, rss in samples if age >= WARM_UP_SECONDS]
            judged = bool(warm) and samples[-1][0] - warm[0][0] >= JUDGED_SECONDS
            start = warm[0][1] if warm else samples[0][1]
            end, peak = samples[-1][1], max(rss for _, rss in samples)
            result.append(
                {
                    "life": life,
                    "seconds": round(samples[-1][0]),
                    "start_mb": round(start / 2**20, 1),
                    "end_mb": round(end / 2**20, 1),
                    "peak_mb": round(peak / 2**20, 1),
                    # None: too short to judge
                    "flat": end <= start * FLAT_MEMORY_RATIO if judged else None,
                    # every fifth sample, for the record: (seconds into the life, MB)
                    "samples": [(round(age), round(rss / 2**20)) for age, rss in samples[::5]],
                }
            )
        return result


# --- the load --------------------------------------------------------------------------------


@dataclass
class Write:
    kind: str  # "mark" or "item"
    marker: str
    score: str | None = None
    pair: tuple[str, str] | None = None
    outcome: str = "unknown"  # acknowledged, refused (an answer that is not success), unknown
    request_id: str | None = None


@dataclass
class Tally:
    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_phase: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_screen: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    leaks: int = 0
    leak_example: str | None = None
    ok_with_errors: int = 0
    examples: dict[str, str] = field(default_factory=dict)  # the first answer of each status
    writes: list[Write] = field(default_factory=list)


class Load:
    """The clients, what they share (tokens, the teacher's pairs), and what they saw."""

    def __init__(self, base_url: str, run_id: str, seed: int, max_requests: int) -> None:
        self.base_url = base_url
        self.run_id = run_id
        self.seed = seed
        self.max_requests = max_requests
        self.tally = Tally()
        self.phase = "before the crash"
        self.tokens: dict[str, str] = {}
        self.pairs: list[tuple[str, str]] = []
        self.pair_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.children: list[str] = []
        self._markers = 0
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    async def prepare(self) -> None:
        for username in ACCOUNTS:
            credentials = {"username": username, "password": DEMO_PASSWORD}
            response = await self.http.post(
                "/graphql", json={"query": LOGIN, "variables": credentials}
            )
            token = response.json()["data"]["login"]["token"]
            if not token:
                raise RuntimeError(f"could not log in as {username}: {response.text}")
            self.tokens[username] = token
        classes = await self._data("teacher", {"query": TEACHER_PAIRS})
        for edge in classes["classes"]["edges"]:
            node = edge["node"]
            self.pairs += [(s["node"]["id"], node["id"]) for s in node["students"]["edges"]]
        self.pair_locks = {pair: asyncio.Lock() for pair in self.pairs}
        viewer = await self._data("guardian", {"query": "{ viewer { children { id } } }"})
        self.children = [child["id"] for child in viewer["viewer"]["children"]]
        if not self.pairs or not self.children:
            raise RuntimeError("the demo district has no classes for the teacher or no children")

    async def _data(self, user: str, body: dict[str, Any]) -> Any:
        response = await self.http.post("/graphql", json=body, headers=self._auth(user))
        response.raise_for_status()
        return response.json()["data"]

    def _auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def marker(self) -> str:
        self._markers += 1
        return f"soak-{self.run_id}-{self._markers}"

    async def send(
        self, screen: str, user: str, body: dict[str, Any]
    ) -> tuple[int | None, dict[str, Any] | None]:
        """One request; its outcome is counted under the phase its answer (or failure) came in:
        a request in flight when PostgreSQL dies counts as answered during the outage."""
        self.tally.requests += 1
        try:
            response = await self.http.post("/graphql", json=body, headers=self._auth(user))
        except httpx.TimeoutException:
            outcome, status, payload = "timeout", None, None
        except httpx.ConnectError:
            outcome, status, payload = "connection refused", None, None
        except httpx.TransportError:
            outcome, status, payload = "connection dropped", None, None
        else:
            status, outcome = response.status_code, str(response.status_code)
            content = response.content
            if status != 200 and outcome not in self.tally.examples:
                self.tally.examples[outcome] = content[:400].decode("utf-8", "replace")
            if any(marker in content for marker in LEAK_MARKERS):
                self.tally.leaks += 1
                self.tally.leak_example = self.tally.leak_example or content[:300].decode(
                    "utf-8", "replace"
                )
            try:
                payload = response.json()
            except ValueError:
                payload = None
            if status == 200 and payload and payload.get("errors"):
                self.tally.ok_with_errors += 1
        self.tally.outcomes[outcome] += 1
        self.tally.by_phase[self.phase][outcome] += 1
        self.tally.by_screen[screen][outcome] += 1
        if status is None or status >= 500:
            await asyncio.sleep(0.5)  # no hot loop against a server that is down
        return status, payload

    async def client(self, number: int, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + number)  # noqa: S311 (a workload, not a secret)
        screens, weights = list(WEIGHTS), list(WEIGHTS.values())
        after: str | None = None  # where this client's coordinator is in the directory
        while time.monotonic() < deadline and self.tally.requests < self.max_requests:
            screen = rng.choices(screens, weights)[0]
            if screen == "teacher dashboard":
                await self.send(screen, "teacher", {"query": TEACHER_DASHBOARD})
            elif screen == "guardian child view":
                variables = {"id": rng.choice(self.children)}
                await self.send(screen, "guardian", {"query": CHILD_VIEW, "variables": variables})
            elif screen == "coordinator paging":
                body = {"query": COORDINATOR_DIRECTORY, "variables": {"after": after}}
                status, payload = await self.send(screen, "coordinator", body)
                data = (payload or {}).get("data") or {}
                page = data.get("students") if status == 200 else None
                info: dict[str, Any] = page["pageInfo"] if page else {"hasNextPage": False}
                after = info["endCursor"] if info["hasNextPage"] else None
            elif screen == "student portfolio":
                await self.send(screen, "student", {"query": STUDENT_PORTFOLIO})
            elif screen == "admin report":
                await self.send(screen, "admin", {"query": DISTRICT_REPORT})
            elif screen == "recordMark":
                await self.record_mark(rng)
            else:
                await self.add_item()

    async def record_mark(self, rng: random.Random) -> None:
        pair = rng.choice(self.pairs)
        # One write at a time per (student, class): the order of acknowledgements is the order
        # of the writes, so the mark left at the end can be checked against it.
        async with self.pair_locks[pair]:
            write = Write("mark", self.marker(), score=f"{rng.uniform(0, 100):.2f}", pair=pair)
            self.tally.writes.append(write)
            variables = {
                "input": {
                    "studentId": pair[0],
                    "classId": pair[1],
                    "score": write.score,
                    "comment": write.marker,
                }
            }
            body = {"query": RECORD_MARK, "variables": variables}
            status, payload = await self.send("recordMark", "teacher", body)
            _settle(write, status, payload, "recordMark", "mark")

    async def add_item(self) -> None:
        write = Write("item", self.marker())
        self.tally.writes.append(write)
        variables = {"input": {"kind": "reflection", "title": write.marker, "body": "soak"}}
        body = {"query": ADD_ITEM, "variables": variables}
        status, payload = await self.send("addPortfolioItem", "student", body)
        _settle(write, status, payload, "addPortfolioItem", "item")


def _settle(
    write: Write, status: int | None, payload: dict[str, Any] | None, field_: str, node: str
) -> None:
    if status is None or payload is None:
        return  # no answer: the write may or may not have happened
    write.request_id = (payload.get("extensions") or {}).get("requestId")
    result = (payload.get("data") or {}).get(field_) or {}
    succeeded = result.get(node) and not result["userErrors"]
    if status == 200 and not payload.get("errors") and succeeded:
        write.outcome = "acknowledged"
    else:
        write.outcome = "refused"


# --- the checks ------------------------------------------------------------------------------


async def check_writes(
    database_url: str, run_id: str, writes: list[Write], home: Path
) -> dict[str, Any]:
    """What of the writes is in the database, and whether each is whole.

    Titles and comments are encrypted at rest (docs/encryption.md): they are read with the
    master key the soak's server generated under its `home`, and matched in plain text.
    """
    connection = await asyncpg.connect(database_url)
    try:
        like = f"soak-{run_id}-"
        master = MasterKey(parse_master_key((home / "encryption-key").read_text(), "soak"))
        ring = Keyring.unwrap(master, data_keys(await connection.fetch(KEYS_SQL)))
        items = [
            {**row, "title": ring.decrypt("portfolio_item", "title", row["id"], row["title"])}
            for row in await connection.fetch(
                "SELECT i.id, i.title, EXISTS (SELECT 1 FROM audit_event a"
                "  WHERE a.action = 'add_portfolio_item' AND a.target_id = i.id) AS audited"
                " FROM portfolio_item i"
            )
        ]
        items = [row for row in items if (row["title"] or "").startswith(like)]
        marks = [
            {**row, "comment": ring.decrypt("mark", "comment", row["id"], row["comment"])}
            for row in await connection.fetch(
                "SELECT m.id, m.comment, m.score, (SELECT a.details ->> 'score' FROM audit_event a"
                "  WHERE a.action = 'record_mark' AND a.target_id = m.id"
                "  ORDER BY a.id DESC LIMIT 1) AS audited_score"
                " FROM mark m WHERE m.comment IS NOT NULL"
            )
        ]
        marks = [row for row in marks if (row["comment"] or "").startswith(like)]
        acknowledged_ids = [w.request_id for w in writes if w.outcome == "acknowledged"]
        audits = await connection.fetch(
            "SELECT a.request_id, a.action, a.details ->> 'score' AS score,"
            " (a.action = 'record_mark' AND EXISTS (SELECT 1 FROM mark m WHERE m.id = a.target_id))"
            " OR (a.action = 'add_portfolio_item'"
            "     AND EXISTS (SELECT 1 FROM portfolio_item i WHERE i.id = a.target_id)) AS has_row"
            " FROM audit_event a WHERE a.request_id = ANY($1::text[])",
            acknowledged_ids,
        )
    finally:
        await connection.close()

    problems: list[str] = []
    item_titles = Counter(row["title"] for row in items)
    audit_by_request = {row["request_id"]: row for row in audits}
    figures: dict[str, Any] = {}
    for kind in ("mark", "item"):
        mine = [w for w in writes if w.kind == kind]
        acknowledged = [w for w in mine if w.outcome == "acknowledged"]
        found = [w for w in acknowledged if w.request_id in audit_by_request]
        if kind == "item":
            found = [w for w in found if item_titles[w.marker] == 1]
        figures[kind] = {
            "sent": len(mine),
            "acknowledged": len(acknowledged),
            "found": len(found),
            "refused": sum(w.outcome == "refused" for w in mine),
            "unknown": sum(w.outcome == "unknown" for w in mine),
        }
        for write in acknowledged:
            audit = audit_by_request.get(write.request_id)
            if audit is None:
                problems.append(f"acknowledged {kind} {write.marker}: no audit record")
            elif not audit["has_row"]:
                problems.append(f"acknowledged {kind} {write.marker}: audit record but no row")
            elif kind == "mark" and Decimal(audit["score"]) != Decimal(str(write.score)):
                problems.append(f"mark {write.marker}: audited score {audit['score']}")
            if kind == "item" and item_titles[write.marker] != 1:
                problems.append(f"item {write.marker} is there {item_titles[write.marker]} times")
    sent_markers = {w.marker for w in writes if w.kind == "item"}
    figures["item"]["unacknowledged_found"] = sum(
        1 for t in item_titles if t in sent_markers and not _acknowledged(writes, t)
    )
    for row in items:
        if not row["audited"]:
            problems.append(f"item {row['title']} has no audit record (half-applied)")
    for row in marks:
        if row["audited_score"] is None or Decimal(row["audited_score"]) != row["score"]:
            problems.append(f"mark {row['comment']}: its last audit record is not its score")
    problems += _check_last_marks(writes, {row["comment"]: row for row in marks})
    figures["problems"] = problems
    return figures


def _acknowledged(writes: list[Write], marker: str) -> bool:
    return any(w.marker == marker and w.outcome == "acknowledged" for w in writes)


def _check_last_marks(writes: list[Write], marks: dict[str, Any]) -> list[str]:
    """Per (student, class): the mark left is the last acknowledged write or a later one whose
    outcome the client could not know."""
    problems = []
    by_pair: dict[tuple[str, str], list[Write]] = defaultdict(list)
    for write in writes:
        if write.kind == "mark" and write.pair is not None:
            by_pair[write.pair].append(write)
    for pair, pair_writes in by_pair.items():
        last = max(
            (i for i, w in enumerate(pair_writes) if w.outcome == "acknowledged"), default=None
        )
        if last is None:
            continue
        allowed = {pair_writes[last].marker}
        allowed |= {w.marker for w in pair_writes[last + 1 :] if w.outcome != "acknowledged"}
        left = [w.marker for w in pair_writes if w.marker in marks]
        if len(left) != 1 or left[0] not in allowed:
            problems.append(f"mark of {pair}: {left} left, expected one of {sorted(allowed)}")
    return problems


def audit_verify(env: dict[str, str]) -> tuple[bool, str]:
    result = subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "audit", "verify"],
        env={**env, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


# --- the run ---------------------------------------------------------------------------------


async def _timeline(
    load: Load, cluster: Cluster, server: ServeProcess, sampler: MemorySampler, args: Any
) -> tuple[ServeProcess, dict[str, Any]]:
    total = args.minutes * 60
    started = time.monotonic()
    deadline = started + total
    events: dict[str, Any] = {}
    clients = [asyncio.create_task(load.client(n, deadline)) for n in range(args.clients)]

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, started + fraction * total - time.monotonic()))

    def now() -> float:
        return round(time.monotonic() - started, 1)

    await at(0.30)
    load.phase = "postgres down"
    events["postgres_killed_at_s"] = now()
    cluster.kill()
    await asyncio.sleep(args.outage)
    await asyncio.to_thread(cluster.start)
    events["postgres_back_at_s"] = now()
    load.phase = "first 10 s after postgres is back"
    await asyncio.sleep(10)
    load.phase = "until the server is stopped"

    await at(0.65)
    load.phase = "server stopping and restarting"
    sampler.follow(None)  # its shutdown is not its memory at work
    events["server_sigterm_at_s"] = now()
    events["server_exited_by_itself"] = await asyncio.to_thread(server.terminate)
    events["server_exited_at_s"] = now()
    server = ServeProcess(args.database_url, args.home, args.workers)
    server.start()
    await asyncio.to_thread(server.wait_healthy, 120)
    sampler.follow(server)
    load.base_url = server.base_url
    load.http.base_url = httpx.URL(server.base_url)
    events["server_back_at_s"] = now()
    load.phase = "after the restart"

    await asyncio.gather(*clients)
    events["load_seconds"] = now()
    return server, events


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    with Cluster() as cluster, tempfile.TemporaryDirectory(prefix="schoolgraph-soak-") as home:
        args.database_url = cluster.url("schoolgraph")
        await ensure_database(args.database_url)  # as `schoolgraph db create-roles` would
        args.home = Path(home)
        print(f"PostgreSQL of the soak on 127.0.0.1:{cluster.port}; serving from {home}")
        server = ServeProcess(args.database_url, args.home, args.workers)
        server.start()
        sampler = MemorySampler()
        try:
            await asyncio.to_thread(server.wait_healthy, 300)  # first start seeds the district
            load = Load(server.base_url, run_id, args.seed, args.max_requests)
            await load.prepare()
            sampler.follow(server)
            sampler.start()
            print(f"{args.clients} clients for {args.minutes:g} min ...")
            server, events = await _timeline(load, cluster, server, sampler, args)
            await load.http.aclose()
            sampler.follow(None)
            events["server_stopped_by_sigterm_at_end"] = await asyncio.to_thread(server.terminate)
        except BaseException:
            print(f"the run failed; the server's log:\n{_tail(args.home / 'serve.log')}")
            raise
        finally:
            sampler.stop()
            server.kill()
            if args.log:
                shutil.copyfile(args.home / "serve.log", args.log)
        writes = await check_writes(args.database_url, run_id, load.tally.writes, args.home)
        verified, verify_output = audit_verify(server.env)
        return _figures(args, load.tally, events, writes, verified, verify_output, sampler)


def _tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(FileNotFoundError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _figures(
    args: argparse.Namespace,
    tally: Tally,
    events: dict[str, Any],
    writes: dict[str, Any],
    verified: bool,
    verify_output: str,
    sampler: MemorySampler,
) -> dict[str, Any]:
    bad_5xx = {k: v for k, v in tally.outcomes.items() if k.startswith("5") and k != "503"}
    memory = sampler.lives()
    answered = sum(v for k, v in tally.outcomes.items() if k.isdigit())
    verdicts = {
        "no 5xx but 503": not bad_5xx,
        "no acknowledged write lost or half-applied": not writes["problems"],
        "the record of disclosures verifies": verified,
        # A run too short to judge any life fails here: it has not shown memory is flat.
        "memory flat": any(life["flat"] is not None for life in memory)
        and all(life["flat"] is not False for life in memory),
        "the server stopped on SIGTERM": bool(
            events.get("server_exited_by_itself") and events.get("server_stopped_by_sigterm_at_end")
        ),
    }
    return {
        "minutes": args.minutes,
        "clients": args.clients,
        "workers": args.workers,
        "requests": tally.requests,
        "answered": answered,
        "answered_per_second": round(answered / max(events["load_seconds"], 1), 1),
        "outcomes": dict(tally.outcomes.most_common()),
        "by_phase": {phase: dict(c.most_common()) for phase, c in tally.by_phase.items()},
        "by_screen": {screen: dict(c.most_common()) for screen, c in tally.by_screen.items()},
        "ok_with_errors": tally.ok_with_errors,
        "examples": tally.examples,
        "responses_with_driver_text": tally.leaks,
        "driver_text_example": tally.leak_example,
        "events": events,
        "writes": writes,
        "audit_verify": verify_output,
        "memory": memory,
        "verdicts": verdicts,
        "passed": all(verdicts.values()),
    }


def print_report(figures: dict[str, Any]) -> None:
    print(
        f"\nrequests: {figures['requests']:,}, answered {figures['answered']:,}"
        f" ({figures['answered_per_second']} per second)"
    )
    print("outcomes: " + ", ".join(f"{k}: {v:,}" for k, v in figures["outcomes"].items()))
    for phase, outcomes in figures["by_phase"].items():
        print(f"  {phase}: " + ", ".join(f"{k}: {v:,}" for k, v in outcomes.items()))
    print(f"200 with errors: {figures['ok_with_errors']:,}")
    print(f"responses carrying SQL or driver text: {figures['responses_with_driver_text']:,}")
    if figures["driver_text_example"]:
        print(f"  e.g. {figures['driver_text_example']}")
    print("events: " + ", ".join(f"{k} {v}" for k, v in figures["events"].items()))
    for kind in ("mark", "item"):
        w = figures["writes"][kind]
        print(
            f"writes ({kind}): sent {w['sent']:,}, acknowledged {w['acknowledged']:,}, found"
            f" {w['found']:,}, refused {w['refused']:,}, no answer {w['unknown']:,}"
        )
    for problem in figures["writes"]["problems"][:20]:
        print(f"  PROBLEM: {problem}")
    print(f"audit verify: {figures['audit_verify']}")
    for life in figures["memory"]:
        print(
            f"memory, server {life['life']} ({life['seconds']} s): after warm-up"
            f" {life['start_mb']} MB, end {life['end_mb']} MB, peak {life['peak_mb']} MB"
            + (" (too short to judge)" if life["flat"] is None else "")
        )
    for name, ok in figures["verdicts"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print("soak passed" if figures["passed"] else "soak FAILED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the load")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL is down")
    parser.add_argument("--seed", type=int, default=1, help="seed of the clients' choices")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="stop after these")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--log", type=Path, help="keep the servers' log in this file")
    args = parser.parse_args(argv)
    if not 0.25 <= args.minutes <= 120:
        parser.error("--minutes is between 0.25 and 120")
    figures = asyncio.run(run(args))
    print_report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
