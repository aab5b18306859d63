"""OneRoster gradebook files (categories, lineItems, results) → marks: one per student, class and
term, scored from the results, lettered as `recordMark` does, the comment encrypted at rest."""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import pytest

from app.roster.importer import import_roster
from tests.test_roster_encryption import _ring
from tests.test_roster_import import _set_11, _write

MARKS_QUERY = """
{ students(first: 50) { edges { node { firstName marks { score letter comment } } } } }
"""


@pytest.fixture
def tag() -> str:
    return "g" + uuid.uuid4().hex[:8]


def _gradebook(tag: str, *, results: str | None = None) -> dict[str, str]:
    """The 1.1 set with a gradebook: Ann 45/50 and 90/100 (90.00, A, the later comment), Bob
    40/50 with an unscored second item (80.00, B), Cy (not in the class) scored."""
    files = _set_11(tag)
    files["manifest.csv"] += "file.categories,bulk\nfile.lineItems,bulk\nfile.results,bulk\n"
    files["categories.csv"] = f"""sourcedId,status,dateLastModified,title
{tag}-cat1,,,Homework
"""
    files[
        "lineItems.csv"
    ] = f"""sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax
{tag}-li1,,,Quiz 1,,2026-09-01,2026-09-08,{tag}-k1,{tag}-cat1,{tag}-t1,0,50
{tag}-li2,,,Essay,,2026-09-01,2026-09-08,{tag}-k1,{tag}-cat9,,,
"""  # noqa: E501
    files["results.csv"] = results or (
        f"""sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,scoreDate,comment
{tag}-r1,,,{tag}-li1,{tag}-u4,fully graded,45,2026-09-09,Good start
{tag}-r2,,,{tag}-li2,{tag}-u4,fully graded,90,2026-09-20,"Strong essay, well argued"
{tag}-r3,,,{tag}-li1,{tag}-u5,fully graded,40,2026-09-09,Late
{tag}-r4,,,{tag}-li2,{tag}-u5,not submitted,,,
{tag}-r5,,,{tag}-li1,{tag}-u6,fully graded,50,2026-09-09,
"""
    )
    return files


async def _marks(db: asyncpg.Connection, district_id: int) -> dict[str, asyncpg.Record]:
    rows = await db.fetch(
        "SELECT s.sourced_id, m.* FROM mark m JOIN student s ON s.id = m.student_id"
        " WHERE m.district_id = $1",
        district_id,
    )
    return {row["sourced_id"]: row for row in rows}


def _messages(report, severity: str) -> list[str]:
    return [str(m) for m in report.messages.shown if m.severity == severity]


async def test_results_become_one_mark_per_student_and_class_with_an_encrypted_comment(
    owner_database_url, db, tmp_path, tag, gql
):
    report = await import_roster(owner_database_url, _write(tmp_path / "set", _gradebook(tag)))
    assert report.ok, report.lines()
    assert report.totals()["marks"]["inserted"] == 2
    assert report.rows_read["results.csv"] == 5
    warnings = _messages(report, "warning")
    assert (
        f"lineItems.csv:3: categorySourcedId: category '{tag}-cat9' is not in the set" in warnings
    )
    assert (
        "results.csv:6: studentSourcedId: the student is not enrolled in the line item's class;"
        " no mark" in warnings
    )
    assert not any("not imported" in w for w in warnings)
    marks = await _marks(db, report.district_id)
    assert set(marks) == {f"{tag}-u4", f"{tag}-u5"}
    ann, bob = marks[f"{tag}-u4"], marks[f"{tag}-u5"]
    assert (ann["score"], ann["letter"]) == (Decimal("90.00"), "A")
    assert (bob["score"], bob["letter"]) == (Decimal("80.00"), "B")
    assert ann["recorded_by"] is None
    term = await db.fetchval(
        "SELECT id FROM term WHERE district_id = $1 AND sourced_id = $2",
        report.district_id,
        f"{tag}-t1",
    )
    assert ann["term_id"] == bob["term_id"] == term
    # At rest the comment is a ciphertext bound to its row; read back it is the latest one.
    ring = await _ring(db)
    assert b"Strong" not in bytes(ann["comment"])
    assert ring.decrypt("mark", "comment", ann["id"], bytes(ann["comment"])) == (
        "Strong essay, well argued"
    )
    assert ring.decrypt("mark", "comment", bob["id"], bytes(bob["comment"])) == "Late"
    # The imported teacher reads them over HTTP.
    seen = await gql(MARKS_QUERY, as_user=f"{tag}.teacher")
    by_name = {e["node"]["firstName"]: e["node"]["marks"] for e in seen.data["students"]["edges"]}
    assert by_name["Ann"] == [
        {"score": "90.00", "letter": "A", "comment": "Strong essay, well argued"}
    ]
    assert by_name["Bob"] == [{"score": "80.00", "letter": "B", "comment": "Late"}]


async def test_the_same_gradebook_twice_changes_nothing_and_an_edited_score_one_mark(
    owner_database_url, db, tmp_path, tag
):
    folder = _write(tmp_path / "set", _gradebook(tag))
    first = await import_roster(owner_database_url, folder)
    assert first.ok, first.lines()
    before = await _marks(db, first.district_id)
    again = await import_roster(owner_database_url, folder)
    assert again.totals()["marks"] == {"inserted": 0, "updated": 0, "ended": 0, "unchanged": 2}
    after = await _marks(db, first.district_id)
    assert {k: dict(v) for k, v in after.items()} == {k: dict(v) for k, v in before.items()}

    files = _gradebook(tag)
    files["results.csv"] = files["results.csv"].replace(",45,", ",35,")
    edited = await import_roster(owner_database_url, _write(tmp_path / "set", files))
    assert edited.totals()["marks"] == {"inserted": 0, "updated": 1, "ended": 0, "unchanged": 1}
    ann = (await _marks(db, first.district_id))[f"{tag}-u4"]
    assert (ann["score"], ann["letter"]) == (Decimal("83.33"), "B")
    assert ann["id"] == before[f"{tag}-u4"]["id"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t, tag: t.replace(f"{tag}-u5,fully graded,40", f"{tag}-nobody,fully graded,40"),
         "results.csv:4: studentSourcedId: no such student: '{tag}-nobody'"),
        (lambda t, tag: t.replace(",45,", ",forty-five,"),
         "results.csv:2: score: 'forty-five' is not a number"),
        (lambda t, tag: t.replace(f"{tag}-li2,{tag}-u4", f"{tag}-li7,{tag}-u4"),
         "results.csv:3: lineItemSourcedId: no such line item: '{tag}-li7'"),
    ],
)  # fmt: skip
async def test_a_bad_result_stops_the_import_and_writes_nothing(
    owner_database_url, db, tmp_path, tag, edit, expected
):
    files = _gradebook(tag)
    files["results.csv"] = edit(files["results.csv"], tag)
    users = await db.fetchval("SELECT count(*) FROM app_user")
    report = await import_roster(owner_database_url, _write(tmp_path / "set", files))
    assert not report.ok
    assert _messages(report, "error") == [expected.format(tag=tag)]
    assert await db.fetchval("SELECT count(*) FROM app_user") == users
