"""The `schoolgraph` command line, run as a real process against the test database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.cli import SCHEMA_FILE
from app.roles import OWNER_ROLE, with_user
from app.seed import DEMO_ACCOUNTS, DEMO_PASSWORD

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")
NINE = ("admin", "principal", "coordinator", "designee", "teacher", "guardian", "student")
NINE += ("reporter", "support")


def _run(
    database_url: str, *args: str, python: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`schoolgraph ARGS` (or `python -c CODE ARGS`) with the test database, wide output: the
    server's role in DATABASE_URL, the owner's in SCHOOLGRAPH_MIGRATE_URL, as deployed."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SCHOOLGRAPH_MIGRATE_URL": with_user(database_url, OWNER_ROLE),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    command = [sys.executable, "-c", python, *args] if python else [str(SCHOOLGRAPH), *args]
    return subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_demo_accounts_lists_the_nine_accounts(database_url):
    result = _run(database_url, "demo-accounts")
    assert result.returncode == 0, result.stderr
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    roles = {row[0]: row[1] for row in rows}
    assert list(roles) == list(NINE)
    assert roles == {a.username: a.role for a in DEMO_ACCOUNTS}
    assert roles["admin"] == "district_admin" and roles["reporter"] == "reporting"
    assert DEMO_PASSWORD in result.stdout


async def test_token_prints_a_token_that_works(database_url, client: httpx.AsyncClient):
    result = _run(database_url, "token", "--user", "admin", "--hours", "1")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { username } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json()["data"] == {"viewer": {"username": "admin"}}


def test_token_for_an_unknown_account_fails(database_url):
    result = _run(database_url, "token", "--user", "nobody-at-all")
    assert result.returncode == 1
    assert "no account named 'nobody-at-all'" in result.stdout
    assert result.stdout.count(".") < 2  # no token printed


def test_token_longer_than_the_cap_is_refused(database_url):
    result = _run(database_url, "token", "--user", "admin", "--hours", "876000")
    assert result.returncode == 1
    assert "at most" in result.stdout
    assert result.stdout.count(".") < 2  # no token printed


def test_audit_verify_checks_the_record(database_url):
    result = _run(database_url, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the record is intact" in result.stdout


def test_migrate_on_a_current_database_is_a_no_op(database_url):
    result = _run(database_url, "migrate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_export_schema_check_passes_on_the_committed_snapshot(database_url):
    result = _run(database_url, "export-schema", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


# The command checks the snapshot in this checkout; to check a changed copy without touching the
# real file, the same command runs with its snapshot path pointed at the copy.
_CHECK_COPY = """
import sys
from pathlib import Path
import app.cli
app.cli.SCHEMA_FILE = Path(sys.argv[1])
sys.argv = ["schoolgraph", "export-schema", "--check"]
app.cli.main()
"""


@pytest.mark.parametrize(
    ("change", "stale"),
    [
        (lambda text: text, False),
        (lambda text: text.replace("  firstName: String\n", "", 1), True),
        (lambda text: text + "\n# edited by hand\n", True),
        (None, True),
    ],
    ids=["identical", "field-removed", "trailing-edit", "missing"],
)
def test_export_schema_check_fails_on_a_stale_copy(database_url, tmp_path, change, stale):
    copy = tmp_path / "schema.graphql"
    if change is not None:
        shutil.copy(SCHEMA_FILE, copy)
        copy.write_text(change(copy.read_text()))
        assert (copy.read_text() != SCHEMA_FILE.read_text()) == stale
    before = SCHEMA_FILE.read_text()
    result = _run(database_url, str(copy), python=_CHECK_COPY)
    assert SCHEMA_FILE.read_text() == before
    if stale:
        assert result.returncode == 1
        assert "stale" in result.stdout
    else:
        assert result.returncode == 0, result.stdout + result.stderr
