"""A real `schoolgraph serve` (uvicorn) on a free loopback port, and pinned Node packages, for the
tests that drive the server with real clients (browsers, Apollo Client, graphql-http's audit).

Node packages are installed from the npm registry into a cache outside the checkout
(`$SCHOOLGRAPH_NODE_CACHE`, default `~/.cache/schoolgraph/node/<hash of the pins>`), once per set of
pins; a test that needs them is skipped, saying why, where Node or npm is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")
NODE_CACHE = Path(
    os.environ.get("SCHOOLGRAPH_NODE_CACHE") or Path.home() / ".cache" / "schoolgraph" / "node"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(database_url: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`schoolgraph serve` over `database_url` with `env` added; yields its base URL
    (`http://127.0.0.1:<port>`) once `/healthz` answers, and stops it afterwards. One worker
    unless `env` sets SCHOOLGRAPH_WORKERS: a test's counts are one process's."""
    with serving(database_url, env={"SCHOOLGRAPH_WORKERS": "1", **(env or {})}) as (base, _):
        yield base


@contextmanager
def serving(
    database_url: str, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`schoolgraph serve <args>` as it starts by default (one worker per core unless `env`
    says otherwise); yields its base URL and its process."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "serve", "--port", str(port), *args],
        env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(900):
            assert process.poll() is None, "schoolgraph serve exited"
            try:
                httpx.get(f"{base}/healthz", timeout=2.0)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=60)


def node_packages(pins: Mapping[str, str]) -> Path:
    """A folder whose `node_modules` holds exactly these packages (name → exact version),
    installed from the npm registry on first use; skips the calling test without Node or npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed for this test and are not on this machine")
    manifest = {"name": "schoolgraph-test-tools", "private": True, "dependencies": dict(pins)}
    text = json.dumps(manifest, sort_keys=True, indent=2)
    folder = NODE_CACHE / hashlib.sha256(text.encode()).hexdigest()[:16]
    done = folder / ".installed"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(text)
        subprocess.run(  # noqa: S603 (npm, fixed arguments)
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            timeout=600,
        )
        done.touch()
    return folder


def run_node(folder: Path, script: str, *args: str, timeout: float = 300) -> str:
    """Run a Node script (its text) with `folder`'s packages; returns its stdout, failing the
    test with its stderr when it exits non-zero."""
    path = folder / f"script-{hashlib.sha256(script.encode()).hexdigest()[:12]}.mjs"
    path.write_text(script)
    done = subprocess.run(  # noqa: S603 (node, our own script)
        [str(shutil.which("node")), str(path), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"node exited {done.returncode}:\n{done.stderr}\n{done.stdout}"
    return done.stdout
