"""`schoolgraph retention run`, run as a real process (the application role) against districts
made by each test (tests/factories.py), always with `--district` for real runs: retention
destroys what it is due to."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from app.retention.rules import months_before
from app.retention.run import LOCK_CLASS
from schema.relay import to_global_id
from tests.factories import (
    PrivacyDistrict,
    identity_traces,
    make_privacy_district,
    sealing_keyring,
)
from tests.helpers import GraphQLResponse

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")
Gql = Callable[..., Awaitable[GraphQLResponse]]


def _retention(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "retention", "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _listed(output: str, rule: str) -> set[str]:
    """Student numbers of the dry run's student lines for `rule`."""
    rows = [line.split("\t") for line in output.splitlines() if line.count("\t") == 4]
    return {row[1] for row in rows if row[4] == rule}


def _today() -> date:
    return datetime.now(UTC).date()


async def _numbers(db: asyncpg.Connection, district: PrivacyDistrict) -> set[str]:
    rows = await db.fetch("SELECT student_number FROM student WHERE district_id = $1", district.id)
    return {r[0] for r in rows}


async def _audited(db: asyncpg.Connection, district: PrivacyDistrict, action: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM audit_event WHERE district_id = $1 AND action = $2",
            district.id,
            action,
        )
    )


async def test_a_district_seven_months_past_its_contract_is_de_identified(
    database_url: str, db: asyncpg.Connection
) -> None:
    district = await make_privacy_district(db, students=12)
    ended = months_before(_today(), 7)
    await db.execute("UPDATE district SET contract_ends_on = $2 WHERE id = $1", district.id, ended)
    numbers = await _numbers(db, district)

    dry = _retention(database_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert _listed(dry.stdout, "ENDED") == numbers
    assert f"{district.first_name} {district.last_name}" in dry.stdout
    assert to_global_id("Student", district.subject) in dry.stdout
    assert "dry run" in dry.stdout
    assert await db.fetchval(
        "SELECT count(*) FROM student WHERE district_id = $1 AND deidentified_at IS NULL",
        district.id,
    ) == len(numbers)
    assert await _audited(db, district, "deidentify_student") == 0

    # Six months after the end is not reached yet as of two months ago.
    early = _retention(
        database_url,
        "--dry-run",
        "--district",
        str(district.id),
        "--as-of",
        months_before(_today(), 2).isoformat(),
    )
    assert early.returncode == 0, early.stderr
    assert _listed(early.stdout, "ENDED") == set()

    done = _retention(database_url, "--district", to_global_id("District", district.id))
    assert done.returncode == 0, done.stdout + done.stderr
    left = await db.fetchval(
        "SELECT count(*) FROM student WHERE district_id = $1 AND deidentified_at IS NULL",
        district.id,
    )
    assert left == 0
    accounts = await db.fetch(
        "SELECT username, is_active, deidentified_at FROM app_user WHERE district_id = $1",
        district.id,
    )
    assert all(not a["is_active"] and a["deidentified_at"] for a in accounts)
    assert not {district.admin, district.guardian} & {a["username"] for a in accounts}
    assert await identity_traces(db, district) == []
    assert await _audited(db, district, "deidentify_student") == len(numbers)
    assert await _audited(db, district, "deidentify_account") == len(accounts) - 1

    again = _retention(database_url, "--district", str(district.id))
    assert again.returncode == 0, again.stderr
    assert "Nothing is due." in again.stdout
    assert await _audited(db, district, "deidentify_student") == len(numbers)


async def test_a_second_run_at_once_skips_the_district(
    database_url: str, db: asyncpg.Connection
) -> None:
    district = await make_privacy_district(db, students=4)
    await db.execute(
        "UPDATE district SET subscription_ends_on = $2 WHERE id = $1",
        district.id,
        months_before(_today(), 8),
    )
    # Another run holds the district.
    await db.execute("SELECT pg_advisory_lock($1, $2)", LOCK_CLASS, district.id)
    try:
        busy = _retention(database_url, "--district", str(district.id))
    finally:
        await db.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, district.id)
    assert busy.returncode == 3, busy.stdout + busy.stderr
    assert "another retention run" in busy.stdout
    assert await _audited(db, district, "deidentify_student") == 0
    done = _retention(database_url, "--district", str(district.id))
    assert done.returncode == 0, done.stdout + done.stderr
    assert await _audited(db, district, "deidentify_student") == 4


async def test_an_unknown_or_malformed_district_fails(database_url: str) -> None:
    result = _retention(database_url, "--dry-run", "--district", "999999")
    assert result.returncode == 1
    assert "no district 999999" in result.stdout
    malformed = _retention(database_url, "--dry-run", "--district", "not-an-id")
    assert malformed.returncode == 2


async def _content(db: asyncpg.Connection, district: int, student: int, days_old: int) -> None:
    ring = await sealing_keyring(db)
    portfolio = await db.fetchval(
        "INSERT INTO portfolio (district_id, student_id) VALUES ($1, $2)"
        " ON CONFLICT (student_id) DO UPDATE SET district_id = excluded.district_id RETURNING id",
        district,
        student,
    )
    await db.execute(
        "UPDATE portfolio SET headline = $2, created_at = now() - make_interval(days => $3)"
        " WHERE id = $1",
        portfolio,
        ring.encrypt("portfolio", "headline", portfolio, "My plans"),
        days_old,
    )
    item = await db.fetchval("SELECT nextval(pg_get_serial_sequence('portfolio_item', 'id'))")
    await db.execute(
        "INSERT INTO portfolio_item (id, district_id, portfolio_id, student_id, kind, title,"
        " visibility, created_at) VALUES ($1, $2, $3, $4, 'goal', $5, 'PRIVATE',"
        " now() - make_interval(days => $6))",
        item,
        district,
        portfolio,
        student,
        ring.encrypt("portfolio_item", "title", item, "Become an astronaut"),
        days_old,
    )


PORTFOLIO = """query ($id: ID!) { student(id: $id) { firstName
  portfolio { headline items { title body erasedAt } } } }"""


async def test_content_collected_without_coppa_consent_is_erased_after_the_notice(
    database_url: str, db: asyncpg.Connection, gql: Gql
) -> None:
    district = await make_privacy_district(db, students=7)
    d = district.id
    today = _today()
    ten = today.replace(year=today.year - 10)
    fourteen = today.replace(year=today.year - 14)
    withdrawn_long_ago, withdrawn_lately, never, never_recent, older = district.students[2:7]
    await db.execute(
        "UPDATE student SET date_of_birth = $2, coppa_consent = false WHERE id = ANY($1::bigint[])",
        [withdrawn_long_ago, withdrawn_lately, never, never_recent],
        ten,
    )
    await db.execute(
        "UPDATE student SET date_of_birth = $2, coppa_consent = false WHERE id = $1",
        older,
        fourteen,
    )
    guardian = await db.fetchval("SELECT id FROM app_user WHERE username = $1", district.guardian)
    for student, days in ((withdrawn_long_ago, 40), (withdrawn_lately, 10), (older, 40)):
        await db.execute(
            "INSERT INTO consent (district_id, student_id, kind, granted, given_by, recorded_at)"
            " VALUES ($1, $2, 'coppa_collection', true, $3, now() - interval '200 days'),"
            " ($1, $2, 'coppa_collection', false, $3, now() - make_interval(days => $4))",
            d,
            student,
            guardian,
            days,
        )
    for student, days in (
        (withdrawn_long_ago, 100),
        (withdrawn_lately, 100),
        (never, 60),
        (never_recent, 5),
        (older, 100),
    ):
        await _content(db, d, student, days)
    numbers = {
        r["id"]: r["student_number"]
        for r in await db.fetch("SELECT id, student_number FROM student WHERE district_id = $1", d)
    }

    dry = _retention(database_url, "--dry-run", "--district", str(d))
    assert dry.returncode == 0, dry.stderr
    assert _listed(dry.stdout, "COPPA") == {numbers[withdrawn_long_ago], numbers[never]}
    later = _retention(
        database_url,
        "--dry-run",
        "--district",
        str(d),
        "--as-of",
        (today + timedelta(days=25)).isoformat(),
    )
    assert _listed(later.stdout, "COPPA") == {
        numbers[withdrawn_long_ago],
        numbers[withdrawn_lately],
        numbers[never],
        numbers[never_recent],
    }

    done = _retention(database_url, "--district", str(d))
    assert done.returncode == 0, done.stdout + done.stderr
    erased = await db.fetch(
        "SELECT i.student_id, i.erased_at IS NOT NULL AS erased, i.body IS NULL AS no_body,"
        " p.headline IS NULL AS no_headline FROM portfolio_item i"
        " JOIN portfolio p ON p.id = i.portfolio_id WHERE i.district_id = $1"
        " AND i.kind = 'goal'",
        d,
    )
    state = {r["student_id"]: (r["erased"], r["no_headline"]) for r in erased}
    assert state == {
        withdrawn_long_ago: (True, True),
        never: (True, True),
        withdrawn_lately: (False, False),
        never_recent: (False, False),
        older: (False, False),
    }
    # The guardian sees the items, emptied and marked.
    await db.execute(
        "INSERT INTO guardian_link (district_id, guardian_user_id, student_id, relationship,"
        " legal_guardian, data_access, starts_on) VALUES ($1, $2, $3, 'parent', true, true, $4)",
        d,
        guardian,
        withdrawn_long_ago,
        today - timedelta(days=400),
    )
    seen = (
        await gql(
            PORTFOLIO,
            as_user=district.guardian,
            variables={"id": to_global_id("Student", withdrawn_long_ago)},
        )
    ).ok()["student"]
    assert seen["firstName"] == "Pat"
    assert seen["portfolio"]["headline"] is None
    [item] = seen["portfolio"]["items"]
    assert item["title"] == "(content removed)" and item["body"] is None and item["erasedAt"]
    # The content goes, the identity stays.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM student WHERE district_id = $1 AND deidentified_at IS NOT NULL", d
        )
        == 0
    )
    assert await _audited(db, district, "erase_collected_content") == 2
    again = _retention(database_url, "--dry-run", "--district", str(d))
    assert _listed(again.stdout, "COPPA") == set()


GRANTS = """query ($all: Boolean!) {
  legitimateInterestGrants(activeOnly: false, includeArchived: $all) { id archivedAt } }"""


async def test_ended_grants_are_archived_and_expired_bundles_purged(
    database_url: str, db: asyncpg.Connection, gql: Gql
) -> None:
    district = await make_privacy_district(db, students=4)
    d = district.id
    coordinator = await db.fetchval(
        "SELECT id FROM app_user WHERE username = $1", district.coordinator
    )
    ended = []
    for starts, expires, revoked in (
        (timedelta(days=100), timedelta(days=-10), None),
        (timedelta(days=5), timedelta(days=20), timedelta(days=1)),
    ):
        ended.append(
            await db.fetchval(
                "INSERT INTO legitimate_interest_grant (district_id, grantee_user_id, scope,"
                " student_id, purpose, granted_by, starts_at, expires_at, revoked_at)"
                " VALUES ($1, $2, 'student', $3, 'Attendance review', $2,"
                " now() - $4::interval, now() + $5::interval, now() - $6::interval) RETURNING id",
                d,
                coordinator,
                district.subject,
                starts,
                expires,
                revoked,
            )
        )
    active = await db.fetchval(
        "SELECT id FROM legitimate_interest_grant WHERE district_id = $1 AND revoked_at IS NULL"
        " AND expires_at > now()",
        d,
    )
    await db.execute(
        "UPDATE data_export SET expires_at = now() - interval '1 day' WHERE district_id = $1", d
    )

    listed = (await gql(GRANTS, as_user=district.coordinator, variables={"all": False})).ok()
    assert len(listed["legitimateInterestGrants"]) == 3

    done = _retention(database_url, "--district", str(d))
    assert done.returncode == 0, done.stdout + done.stderr
    archived = await db.fetch(
        "SELECT id FROM legitimate_interest_grant WHERE district_id = $1"
        " AND archived_at IS NOT NULL",
        d,
    )
    assert {r["id"] for r in archived} == set(ended)
    assert await db.fetchval(
        "SELECT content IS NULL AND purged_at IS NOT NULL FROM data_export WHERE district_id = $1",
        d,
    )
    assert await _audited(db, district, "archive_grant") == 2
    assert await _audited(db, district, "purge_export") == 1

    default = (await gql(GRANTS, as_user=district.coordinator, variables={"all": False})).ok()
    assert [g["id"] for g in default["legitimateInterestGrants"]] == [
        to_global_id("LegitimateInterestGrant", active)
    ]
    everything = (await gql(GRANTS, as_user=district.coordinator, variables={"all": True})).ok()
    shown = {g["id"]: g["archivedAt"] for g in everything["legitimateInterestGrants"]}
    assert len(shown) == 3 and shown[to_global_id("LegitimateInterestGrant", active)] is None
    assert all(shown[to_global_id("LegitimateInterestGrant", g)] for g in ended)
