"""PostGraphile from the npm registry, installed once into `~/.cache/schoolgraph/peer/<version>`
(`$SCHOOLGRAPH_PEER_CACHE` to put it elsewhere), never into the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

VERSION = "4.14.1"  # the version the peer set-up was measured with (Node 20; v5 needs Node 22)
CACHE = Path(
    os.environ.get("SCHOOLGRAPH_PEER_CACHE") or Path.home() / ".cache" / "schoolgraph" / "peer"
)


class PeerUnavailable(Exception):
    """The peer cannot run here; the message says why."""


def postgraphile(version: str = VERSION) -> Path:
    """The `postgraphile` executable, installed on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PeerUnavailable("Node.js and npm are not on this machine: PostGraphile is skipped")
    folder = CACHE / version
    executable = folder / "node_modules" / ".bin" / "postgraphile"
    done = folder / ".installed"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {
            "name": "schoolgraph-peer",
            "private": True,
            "dependencies": {"postgraphile": version},
        }
        (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"installing PostGraphile {version} into {folder} ...", flush=True)
        installed = subprocess.run(  # noqa: S603 (npm, fixed arguments)
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if installed.returncode != 0 or not executable.exists():
            raise PeerUnavailable(f"npm could not install PostGraphile: {installed.stderr[-500:]}")
        done.touch()
    return executable
