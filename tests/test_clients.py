"""The examples of docs/clients.md, run as they are written (the files under docs/clients/)
against a real server, from a made-up frontend origin: Apollo Client, graphql-request, Python gql
and curl each sign in, run the README's query with a persisted query, page, and read the
FORBIDDEN errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import node_packages, serve

CLIENTS = Path(__file__).parent.parent / "docs" / "clients"
ORIGIN = "https://portal.riverside.example"
NODE_PINS = {
    "@apollo/client": "4.3.8",
    "graphql": "16.11.0",
    "graphql-request": "7.4.0",
    "rxjs": "7.8.2",
}


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with serve(database_url, {"SCHOOLGRAPH_CORS_ORIGINS": ORIGIN}) as base:
        yield base


def _env(server: str) -> dict[str, str]:
    return {**os.environ, "SCHOOLGRAPH_URL": server, "SCHOOLGRAPH_ORIGIN": ORIGIN}


def _lines(output: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for line in output.splitlines():
        item = json.loads(line)
        found.setdefault(item["what"], []).append(item)
    return found


def _run(server: str, *command: str, cwd: Path | None = None) -> str:
    """An example's output, failing the test with its errors when it exits non-zero."""
    done = subprocess.run(  # noqa: S603 (an interpreter, our own example)
        command, cwd=cwd, env=_env(server), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def _node(server: str, example: str) -> dict[str, list[dict[str, Any]]]:
    folder = node_packages(NODE_PINS)
    script = folder / example
    shutil.copyfile(CLIENTS / example, script)  # beside its node_modules
    return _lines(_run(server, str(shutil.which("node")), str(script), cwd=folder))


def _check(found: dict[str, list[dict[str, Any]]]) -> None:
    """What every example shows: a sign-in, the README query's rows with the fields withheld
    from a coordinator without a grant (FORBIDDEN, with field class and reason), two distinct
    pages, and CORS."""
    assert found["login"] == [{"what": "login", "signedIn": True}]
    (students,) = found["students"]
    assert students["rows"] == 5 and students["totalCount"] >= 5
    assert students["forbidden"], "a coordinator without a grant is refused the email"
    assert all(f["fieldClass"] and f["reason"] for f in students["forbidden"])
    (pages,) = found["pages"]
    assert len(pages["ids"]) == len(set(pages["ids"])) == 4
    assert {h["allowOrigin"] for h in found["http"]} == {ORIGIN}


def test_apollo_client_with_its_persisted_query_link(server):
    first = _node(server, "apollo.mjs")
    _check(first)
    # Each new document: its hash first (400 PERSISTED_QUERY_NOT_FOUND), then the document.
    assert 400 in [h["status"] for h in first["http"]]
    # A second client process: the server knows every hash, no document is sent again.
    again = _node(server, "apollo.mjs")
    _check(again)
    assert {h["status"] for h in again["http"]} == {200}


def test_graphql_request(server):
    _check(_node(server, "graphql-request.mjs"))


def test_python_gql(server):
    _check(_lines(_run(server, sys.executable, str(CLIENTS / "gql_client.py"))))


def test_curl(server):
    if shutil.which("curl") is None or shutil.which("sha256sum") is None:
        pytest.skip("curl and sha256sum are needed for this test and are not on this machine")
    output = _run(server, str(shutil.which("sh")), str(CLIENTS / "curl.sh"))
    sections = dict(part.split("\n", 1) for part in output.split("# ")[1:])
    head, _, body = sections["students by hash"].replace("\r", "").partition("\n\n")
    assert f"access-control-allow-origin: {ORIGIN}" in head.lower()
    students = json.loads(body)
    assert len(students["data"]["students"]["edges"]) == 5
    assert any(e["extensions"]["code"] == "FORBIDDEN" for e in students["errors"])
    pages = [json.loads(sections[f"page {n}"]) for n in (1, 2)]
    ids = [e["node"]["id"] for p in pages for e in p["data"]["students"]["edges"]]
    assert len(set(ids)) == 4


@pytest.mark.parametrize("example", sorted(p.name for p in CLIENTS.iterdir() if p.is_file()))
def test_the_guide_shows_each_example_as_it_is_tested(example):
    """docs/clients.md shows every example whole, under a marker naming its file."""
    guide = (CLIENTS.parent / "clients.md").read_text()
    marker = f"<!-- clients/{example} -->\n```"
    assert marker in guide, f"docs/clients.md does not show clients/{example}"
    block = guide.split(marker, 1)[1].split("\n", 1)[1]
    assert block.startswith((CLIENTS / example).read_text() + "```")
