"""`schoolgraph import-oneroster` as a real process: messages, counts and exit status."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import _run
from tests.test_roster_import import _set_11, _write


def test_the_command_reports_and_fails_on_an_error(database_url, tmp_path: Path):
    files = _set_11("cli1")
    files["enrollments.csv"] += "cli1-e9,,,cli1-k1,cli1-s1,cli1-ghost,student,,,\n"
    folder = _write(tmp_path / "bad", files)
    result = _run(database_url, "import-oneroster", str(folder))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "enrollments.csv:7: userSourcedId: no such user: 'cli1-ghost'" in result.stdout
    assert "failed: nothing written" in result.stdout


def test_a_dry_run_then_the_import(database_url, tmp_path: Path):
    folder = _write(tmp_path / "good", _set_11("cli2"))
    dry = _run(database_url, "import-oneroster", str(folder), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run: nothing written" in dry.stdout
    done = _run(database_url, "import-oneroster", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported" in done.stdout
    strict = _run(database_url, "import-oneroster", str(folder), "--strict")
    assert strict.returncode == 1
