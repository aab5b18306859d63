"""Consent that gates (docs/consent.md): consents read back, vendors and third-party exports held
to the student's consent, a COPPA withdrawal that stops use at once, self-service deletion of
portfolio items. Over HTTP as the demo accounts (and as generated families where a case needs a
child under 13), and through the command line."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.roster.export import export_roster
from schema.relay import to_global_id
from tests.helpers import GraphQLResponse, assert_forbidden, forbidden_errors
from tests.test_cli import _run
from tests.test_policy import _student_of, _user_id, sid

Gql = Callable[..., Awaitable[GraphQLResponse]]

RECORD_CONSENT = """
mutation ($input: RecordConsentInput!) {
  recordConsent(input: $input) { consent { id kind granted current } userErrors { code } }
}
"""
CONSENTS = """
query ($id: ID!) {
  student(id: $id) { id consents { id kind granted current recordedAt givenBy } }
}
"""
GRANT = """
mutation ($input: GrantLegitimateInterestInput!) {
  grantLegitimateInterest(input: $input) { grant { id } userErrors { code field message } }
}
"""
REVOKE = """
mutation ($id: ID!) { revokeLegitimateInterest(input: {id: $id}) { userErrors { code } } }
"""
STUDENT_EMAIL = "query ($id: ID!) { student(id: $id) { id email } }"
PORTFOLIO = """
query ($id: ID!) { student(id: $id) { id portfolio { items { id visibility title } } } }
"""
ADD_ITEM = """
mutation ($input: AddPortfolioItemInput!) {
  addPortfolioItem(input: $input) { item { id } userErrors { code } }
}
"""
UPDATE_ITEM = """
mutation ($input: UpdatePortfolioItemInput!) {
  updatePortfolioItem(input: $input) { item { id } userErrors { code } }
}
"""
DELETE_ITEM = """
mutation ($id: ID!) {
  deletePortfolioItem(input: {id: $id}) { deletedId userErrors { code field message } }
}
"""


def _expires() -> str:
    import datetime

    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)).isoformat()


async def _consent(gql: Gql, as_user: str, student: int, kind: str, granted: bool) -> Any:
    variables = {"input": {"studentId": sid(student), "kind": kind, "granted": granted}}
    payload = (await gql(RECORD_CONSENT, as_user=as_user, variables=variables)).ok()
    assert payload["recordConsent"]["userErrors"] == [], payload
    return payload["recordConsent"]["consent"]


@pytest.fixture
async def undo_consents(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Consents recorded during the test are removed after it (and the COPPA flags restored)."""
    last = await db.fetchval("SELECT coalesce(max(id), 0) FROM consent")
    flags = {
        r["id"]: r["coppa_consent"] for r in await db.fetch("SELECT id, coppa_consent FROM student")
    }
    yield
    await db.execute("DELETE FROM consent WHERE id > $1", last)
    changed = [
        r["id"]
        for r in await db.fetch("SELECT id, coppa_consent FROM student")
        if r["id"] in flags and flags[r["id"]] != r["coppa_consent"]
    ]
    await db.execute(
        "UPDATE student SET coppa_consent = NOT coppa_consent WHERE id = ANY($1)", changed
    )


# --- Student.consents ----------------------------------------------------------------------------


async def test_consents_are_read_by_the_student_guardians_and_admins(
    gql: Gql, db: asyncpg.Connection, undo_consents: None
) -> None:
    pupil = await _student_of(db, "student")
    given = await _consent(gql, "guardian", pupil, "THIRD_PARTY_DISCLOSURE", True)
    withdrawn = await _consent(gql, "guardian", pupil, "THIRD_PARTY_DISCLOSURE", False)
    assert given["current"] and withdrawn["current"] and not withdrawn["granted"]
    guardian = await db.fetchrow(
        "SELECT first_name, last_name FROM app_user WHERE username = 'guardian'"
    )
    for account in ("student", "guardian", "admin", "principal"):
        response = await gql(CONSENTS, as_user=account, variables={"id": sid(pupil)})
        consents = response.ok()["student"]["consents"]
        third = [c for c in consents if c["kind"] == "THIRD_PARTY_DISCLOSURE"]
        # Newest first; the withdrawal is the one in force.
        assert [c["id"] for c in third[:2]] == [withdrawn["id"], given["id"]], account
        assert [c["current"] for c in third[:2]] == [True, False]
        assert [c["granted"] for c in third[:2]] == [False, True]
        assert third[0]["givenBy"] == f"{guardian['first_name']} {guardian['last_name']}"
        assert third[0]["recordedAt"] >= third[1]["recordedAt"]
        # One consent in force per kind.
        current = [c["kind"] for c in consents if c["current"]]
        assert len(current) == len(set(current))
    for account in ("teacher", "coordinator"):
        response = await gql(CONSENTS, as_user=account, variables={"id": sid(pupil)})
        assert response.data["student"]["consents"] is None, account
        assert_forbidden(response, "student.consents", "disclosures")


async def test_reading_consents_is_recorded_as_a_disclosure(
    gql: Gql, db: asyncpg.Connection
) -> None:
    pupil = await _student_of(db, "student")
    admin = await _user_id(db, "admin")
    before = await db.fetchval("SELECT count(*) FROM disclosure WHERE viewer_user_id = $1", admin)
    (await gql(CONSENTS, as_user="admin", variables={"id": sid(pupil)})).ok()
    rows = await db.fetch(
        "SELECT field_classes FROM disclosure WHERE viewer_user_id = $1 ORDER BY id DESC LIMIT 1",
        admin,
    )
    assert (
        await db.fetchval("SELECT count(*) FROM disclosure WHERE viewer_user_id = $1", admin)
        > before
    )
    assert "disclosures" in rows[0]["field_classes"]


# --- vendors need the student's consent to third parties -----------------------------------------


def _grant_input(grantee: int, scope: str, target: str) -> dict[str, Any]:
    return {
        "input": {
            "granteeId": to_global_id("StaffMember", grantee),
            "scope": scope,
            "targetId": target,
            "purpose": "Vendor support ticket 7731",
            "expiresAt": _expires(),
        }
    }


async def test_a_vendor_grant_needs_consent_and_ends_with_its_withdrawal(
    gql: Gql, db: asyncpg.Connection, undo_consents: None
) -> None:
    pupil = await _student_of(db, "student")
    support = await _user_id(db, "support")
    grants = await db.fetchval("SELECT count(*) FROM legitimate_interest_grant")
    variables = _grant_input(support, "STUDENT", sid(pupil))
    refused = (await gql(GRANT, as_user="principal", variables=variables)).ok()
    assert [e["code"] for e in refused["grantLegitimateInterest"]["userErrors"]] == [
        "CONSENT_REQUIRED"
    ]
    assert refused["grantLegitimateInterest"]["grant"] is None
    assert await db.fetchval("SELECT count(*) FROM legitimate_interest_grant") == grants

    await _consent(gql, "guardian", pupil, "THIRD_PARTY_DISCLOSURE", True)
    made = (await gql(GRANT, as_user="principal", variables=variables)).ok()
    grant = made["grantLegitimateInterest"]["grant"]
    assert made["grantLegitimateInterest"]["userErrors"] == [] and grant is not None
    try:
        seen = (await gql(STUDENT_EMAIL, as_user="support", variables={"id": sid(pupil)})).ok()
        assert seen["student"]["email"]
        # The guardian withdraws: the vendor's next request finds no such student.
        await _consent(gql, "guardian", pupil, "THIRD_PARTY_DISCLOSURE", False)
        gone = await gql(STUDENT_EMAIL, as_user="support", variables={"id": sid(pupil)})
        assert gone.ok() == {"student": None}
    finally:
        await gql(REVOKE, as_user="principal", variables={"id": grant["id"]})


async def test_a_vendor_class_grant_covers_only_consenting_students(
    gql: Gql, db: asyncpg.Connection, undo_consents: None
) -> None:
    pupil = await _student_of(db, "student")
    klass, other = await db.fetchrow(
        "SELECT e.class_id, e2.student_id FROM enrollment e JOIN enrollment e2"
        " ON e2.class_id = e.class_id AND e2.student_id <> e.student_id"
        " WHERE e.student_id = $1 AND e.ends_on IS NULL AND e2.ends_on IS NULL"
        " AND e.begins_on <= CURRENT_DATE AND e2.begins_on <= CURRENT_DATE LIMIT 1",
        pupil,
    )
    await _consent(gql, "guardian", pupil, "THIRD_PARTY_DISCLOSURE", True)
    variables = _grant_input(await _user_id(db, "support"), "CLASS", to_global_id("Class", klass))
    made = (await gql(GRANT, as_user="principal", variables=variables)).ok()
    grant = made["grantLegitimateInterest"]["grant"]
    assert grant is not None, made
    try:
        seen = (await gql(STUDENT_EMAIL, as_user="support", variables={"id": sid(pupil)})).ok()
        assert seen["student"]["email"]
        hidden = await gql(STUDENT_EMAIL, as_user="support", variables={"id": sid(other)})
        assert hidden.ok() == {"student": None}
    finally:
        await gql(REVOKE, as_user="principal", variables={"id": grant["id"]})


def _csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


async def test_an_export_to_a_third_party_leaves_out_students_without_consent(
    owner_database_url: str, database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    district = await db.fetchval("SELECT district_id FROM app_user WHERE username = 'admin'")
    consenting = await db.fetchval(
        "SELECT id FROM student WHERE district_id = $1 AND enrollment_status = 'active'"
        " ORDER BY id LIMIT 1",
        district,
    )
    admin = await _user_id(db, "admin")
    consents = [
        await db.fetchval(
            "INSERT INTO consent (district_id, student_id, kind, granted, given_by)"
            " VALUES ($1, $2, 'third_party_disclosure', $3, $4) RETURNING id",
            district,
            student,
            granted,
            admin,
        )
        for student, granted in (
            (consenting, True),
            (consenting + 1, True),
            (consenting + 1, False),
        )
    ]
    try:
        active = await db.fetchval(
            "SELECT count(*) FROM student WHERE district_id = $1 AND enrollment_status = 'active'",
            district,
        )
        out = tmp_path / "vendor.zip"
        summary = await export_roster(
            owner_database_url, out, district=str(district), third_party="Acme Tutoring"
        )
        assert summary.left_out == active - 1
        with zipfile.ZipFile(out) as archive:
            users = _csv(archive, "users.csv")
            roles = _csv(archive, "roles.csv")
            students = {r["userSourcedId"] for r in roles if r["role"] == "student"}
            assert len(students) == 1
            assert len(_csv(archive, "demographics.csv")) == 1
            enrolled = {
                r["userSourcedId"]
                for r in _csv(archive, "enrollments.csv")
                if r["role"] == "student"
            }
            assert enrolled <= students
            guardians = {
                r["userSourcedId"] for r in roles if r["role"] in ("parent", "guardian", "relative")
            }
            linked = await db.fetchval(
                "SELECT count(DISTINCT guardian_user_id) FROM guardian_link WHERE student_id = $1",
                consenting,
            )
            assert 0 < len(guardians) <= linked
            agents = {u["sourcedId"]: u["agentSourcedIds"] for u in users}
            assert all(agents[g] for g in guardians)
        details = json.loads(
            await db.fetchval(
                "SELECT details FROM audit_event WHERE action = 'roster.export'"
                " ORDER BY id DESC LIMIT 1"
            )
        )
        assert details["third_party"] == "Acme Tutoring"
        assert details["left_out"] == active - 1

        # The command line says how many were left out; the district's own export has them all.
        result = _run(
            database_url, "export-oneroster", str(tmp_path / "cli.zip"), "--district",
            str(district), "--third-party", "Acme Tutoring",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"{active - 1:,} students left out" in result.stdout
        own = await export_roster(owner_database_url, tmp_path / "own.zip", district=str(district))
        assert own.left_out == 0 and own.rows["demographics.csv"] == active
    finally:
        await db.execute("DELETE FROM consent WHERE id = ANY($1)", consents)


# --- COPPA: a withdrawal stops collection and use at once ---------------------------------------


async def _young_family(db: asyncpg.Connection) -> asyncpg.Record:
    """An under-13 student with COPPA consent, an item staff may see, a teacher who sees it, and a
    guardian with data access."""
    row = await db.fetchrow(
        """
        SELECT s.id AS student, su.username AS student_user, gu.username AS guardian_user,
               tu.username AS teacher_user, i.id AS item
        FROM student s JOIN app_user su ON su.id = s.user_id
        JOIN portfolio_item i ON i.student_id = s.id AND i.visibility = 'TEACHERS'
        JOIN guardian_link gl ON gl.student_id = s.id AND gl.data_access
          AND gl.starts_on <= CURRENT_DATE AND gl.ends_on IS NULL
        JOIN app_user gu ON gu.id = gl.guardian_user_id
        JOIN enrollment e ON e.student_id = s.id AND e.begins_on <= CURRENT_DATE
          AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)
        JOIN teaching_assignment ta ON ta.class_id = e.class_id
          AND ta.starts_on <= CURRENT_DATE AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE)
        JOIN app_user tu ON tu.id = ta.staff_user_id
        WHERE s.coppa_consent AND s.date_of_birth > CURRENT_DATE - interval '12 years'
          AND s.district_id = (SELECT district_id FROM app_user WHERE username = 'admin')
        ORDER BY s.id, i.id LIMIT 1
        """
    )
    assert row is not None, "the seed has young students with items their teachers see"
    return row


def _item_ids(response: GraphQLResponse) -> set[str]:
    portfolio = response.ok()["student"]["portfolio"]
    return {i["id"] for i in portfolio["items"]} if portfolio else set()


async def test_a_coppa_withdrawal_hides_collected_content_from_staff_at_once(
    gql: Gql, db: asyncpg.Connection, undo_consents: None
) -> None:
    family = await _young_family(db)
    pupil, item = family["student"], to_global_id("PortfolioItem", family["item"])
    ask = {"id": sid(pupil)}
    assert item in _item_ids(await gql(PORTFOLIO, as_user=family["teacher_user"], variables=ask))
    mine = (
        await gql(
            ADD_ITEM,
            as_user=family["student_user"],
            variables={"input": {"kind": "goal", "title": "Learn to swim"}},
        )
    ).ok()["addPortfolioItem"]["item"]["id"]

    await _consent(gql, family["guardian_user"], pupil, "COPPA_COLLECTION", False)
    # Use stops: the teacher no longer sees what was collected; student and guardian still do.
    assert _item_ids(await gql(PORTFOLIO, as_user=family["teacher_user"], variables=ask)) == set()
    for account in (family["guardian_user"], family["student_user"]):
        seen = _item_ids(await gql(PORTFOLIO, as_user=account, variables=ask))
        assert {item, mine} <= seen, account
    # Collection stops: nothing added or edited.
    added = await gql(
        ADD_ITEM,
        as_user=family["student_user"],
        variables={"input": {"kind": "goal", "title": "More"}},
    )
    assert [e["code"] for e in added.ok()["addPortfolioItem"]["userErrors"]] == [
        "COPPA_CONSENT_REQUIRED"
    ]
    edited = await gql(
        UPDATE_ITEM, as_user=family["student_user"], variables={"input": {"id": mine, "title": "x"}}
    )
    assert [e["code"] for e in edited.ok()["updatePortfolioItem"]["userErrors"]] == [
        "COPPA_CONSENT_REQUIRED"
    ]
    # Deleting is always possible: the student their own item, the guardian the child's.
    for account, target in ((family["student_user"], mine), (family["guardian_user"], item)):
        deleted = (await gql(DELETE_ITEM, as_user=account, variables={"id": target})).ok()
        assert deleted["deletePortfolioItem"] == {"deletedId": target, "userErrors": []}
    assert (
        await db.fetchval(
            "SELECT count(*) FROM portfolio_item WHERE id = ANY($1)", [family["item"]]
        )
        == 0
    )

    # Consent given again: staff see what remains (visible to them) again.
    await _consent(gql, family["guardian_user"], pupil, "COPPA_COLLECTION", True)
    again = await gql(PORTFOLIO, as_user=family["teacher_user"], variables=ask)
    visible = await db.fetchval(
        "SELECT count(*) FROM portfolio_item WHERE student_id = $1"
        " AND visibility IN ('TEACHERS', 'COORDINATOR')",
        pupil,
    )
    assert len(_item_ids(again)) == visible


# --- deletePortfolioItem --------------------------------------------------------------------------


async def test_a_student_deletes_their_own_item_and_only_theirs(
    gql: Gql, db: asyncpg.Connection
) -> None:
    pupil = await _student_of(db, "student")
    made = (
        await gql(
            ADD_ITEM,
            as_user="student",
            variables={"input": {"kind": "reflection", "title": "Secret plans", "body": "Private"}},
        )
    ).ok()["addPortfolioItem"]["item"]["id"]
    item_pk = int(
        await db.fetchval("SELECT max(id) FROM portfolio_item WHERE student_id = $1", pupil)
    )
    assert to_global_id("PortfolioItem", item_pk) == made
    # Nobody else deletes it: a teacher, a classmate-level student, and the guardian of a teenager
    # (from 13 the student decides; the guardian may file a DELETE request).
    for account, code in (
        ("teacher", "NOT_FOUND"),
        ("coordinator", "NOT_FOUND"),
        ("guardian", "STUDENT_DECIDES"),
    ):
        refused = (await gql(DELETE_ITEM, as_user=account, variables={"id": made})).ok()
        assert refused["deletePortfolioItem"]["deletedId"] is None, account
        assert [e["code"] for e in refused["deletePortfolioItem"]["userErrors"]] == [code], account
    assert await db.fetchval("SELECT count(*) FROM portfolio_item WHERE id = $1", item_pk) == 1

    deleted = (await gql(DELETE_ITEM, as_user="student", variables={"id": made})).ok()
    assert deleted["deletePortfolioItem"] == {"deletedId": made, "userErrors": []}
    assert await db.fetchval("SELECT count(*) FROM portfolio_item WHERE id = $1", item_pk) == 0
    audit = await db.fetchrow(
        "SELECT * FROM audit_event WHERE action = 'delete_portfolio_item' AND target_id = $1",
        item_pk,
    )
    details = json.loads(audit["details"])
    assert details == {
        "by": "self",
        "kind": "reflection",
        "student": pupil,
        "visibility": "PRIVATE",
    }
    assert "Secret" not in audit["details"] and "Private" not in audit["details"]
    assert await db.fetchval(
        "SELECT count(*) FROM activity_event WHERE student_id = $1"
        " AND kind = 'portfolio_item_deleted'",
        pupil,
    )
    again = (await gql(DELETE_ITEM, as_user="student", variables={"id": made})).ok()
    assert [e["code"] for e in again["deletePortfolioItem"]["userErrors"]] == ["NOT_FOUND"]

    # Another student's item answers like one that does not exist.
    foreign = await db.fetchval(
        "SELECT id FROM portfolio_item WHERE student_id <> $1 ORDER BY id LIMIT 1", pupil
    )
    other = (
        await gql(
            DELETE_ITEM, as_user="student", variables={"id": to_global_id("PortfolioItem", foreign)}
        )
    ).ok()
    assert [e["code"] for e in other["deletePortfolioItem"]["userErrors"]] == ["NOT_FOUND"]
    assert await db.fetchval("SELECT count(*) FROM portfolio_item WHERE id = $1", foreign) == 1


async def test_a_student_under_13_without_consent_deletes_their_items(
    gql: Gql, db: asyncpg.Connection, undo_consents: None
) -> None:
    # What was collected while a parent's consent was in force is still the child's to delete
    # once the consent is withdrawn.
    row = await db.fetchrow(
        """
        SELECT s.id, u.username, gu.username AS guardian, i.id AS item
        FROM student s JOIN app_user u ON u.id = s.user_id
        JOIN portfolio_item i ON i.student_id = s.id
        JOIN guardian_link gl ON gl.student_id = s.id AND gl.data_access
          AND gl.starts_on <= CURRENT_DATE AND gl.ends_on IS NULL
        JOIN app_user gu ON gu.id = gl.guardian_user_id
        WHERE s.coppa_consent AND s.date_of_birth > CURRENT_DATE - interval '12 years'
        ORDER BY s.id DESC, i.id LIMIT 1
        """
    )
    assert row is not None, "the seed has under-13 students with consent who hold items"
    await _consent(gql, row["guardian"], row["id"], "COPPA_COLLECTION", False)
    item = to_global_id("PortfolioItem", row["item"])
    deleted = (await gql(DELETE_ITEM, as_user=row["username"], variables={"id": item})).ok()
    assert deleted["deletePortfolioItem"] == {"deletedId": item, "userErrors": []}
    assert await db.fetchval("SELECT count(*) FROM portfolio_item WHERE id = $1", row["item"]) == 0


async def test_delete_portfolio_item_needs_a_viewer(gql: Gql) -> None:
    response = await gql(DELETE_ITEM, variables={"id": to_global_id("PortfolioItem", 1)})
    assert response.data is None or response.data.get("deletePortfolioItem") is None
    assert response.errors and not forbidden_errors(response)
