"""Cursors cannot point outside the viewer's scope: they are opaque, sealed to the list, order and
viewer they were issued for, and carry the sort key of their row (docs/authorization.md §3).

A cursor the server did not issue to this viewer for this list and order — made by hand from any
id, tampered with, another viewer's, another list's — gets one answer, the same to the byte,
whatever row (if any) it names.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from app.keyset import Column, Keyset
from tests.factories import other_district_id
from tests.helpers import GraphQLResponse, nodes

Gql = Callable[..., Awaitable[GraphQLResponse]]

STUDENTS = """
query ($n: Int, $after: String, $order: StudentOrder! = NAME) {
  students(first: $n, after: $after, orderBy: $order) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
CLASSES = """
query ($n: Int, $after: String) {
  classes(first: $n, after: $after) {
    edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}
"""
SAVED_REPORTS = """
query ($n: Int, $after: String) {
  savedReports(first: $n, after: $after) {
    edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}
"""
DISCLOSURES = """
query ($n: Int, $after: String) {
  disclosures(first: $n, after: $after) {
    edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}
"""
# Each list with its root field and an account that may read it.
LISTS = {
    "students": (STUDENTS, "students", "teacher"),
    "classes": (CLASSES, "classes", "teacher"),
    "savedReports": (SAVED_REPORTS, "savedReports", "admin"),
    "disclosures": (DISCLOSURES, "disclosures", "admin"),
}
ORDERS = ("NAME", "GRADE_LEVEL", "DATE_OF_BIRTH")
# The keyset order of each `students` order, as SQL over `student` (NULLs sort last).
ORDER_SQL = {
    "NAME": "last_name, first_name, id",
    "GRADE_LEVEL": "grade_level, last_name, first_name, id",
    "DATE_OF_BIRTH": "date_of_birth NULLS LAST, last_name, first_name, id",
}


def hand_made(pk: int) -> str:
    """A cursor made by hand the way cursors once were made: base64 of `c:<id>`."""
    return base64.urlsafe_b64encode(f"c:{pk}".encode()).decode()


def pk_of(global_id: str) -> int:
    return int(base64.urlsafe_b64decode(global_id).decode().partition(":")[2])


def answer(response: GraphQLResponse) -> tuple[int, Any, list[dict[str, Any]]]:
    """What a caller can observe, without the request's own id and statement count."""
    return response.status, response.data, response.errors


async def refused_alike(gql: Gql, list_name: str, cursors: dict[str, str], **variables: Any):
    """Ask the list with each cursor: every answer is the same refusal; returns it."""
    query, _, user = LISTS[list_name]
    answers = {
        why: answer(await gql(query, as_user=user, variables={"n": 2, "after": c, **variables}))
        for why, c in cursors.items()
    }
    first = next(iter(answers.values()))
    for why, seen in answers.items():
        assert seen == first, (
            f"{list_name}: the cursor {why} answers differently: {seen} vs {first}"
        )
    status, data, errors = first
    # The list is refused, nothing else of the answer (a field that can be refused is nullable).
    root = LISTS[list_name][1]
    assert status == 200 and data in (None, {root: None}), first
    [error] = errors
    assert error["message"] == "`after` is not a cursor this list gave you"
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "after",
    )
    return first


async def walk(gql: Gql, list_name: str, user: str, n: int, **variables: Any) -> list[str]:
    """Every id of the list, page by page with `endCursor`."""
    query, field, _ = LISTS[list_name]
    ids: list[str] = []
    after = None
    for _ in range(1000):
        response = await gql(query, as_user=user, variables={"n": n, "after": after, **variables})
        page = response.ok()[field]
        ids += [node["id"] for node in nodes(page)]
        assert len(nodes(page)) <= n
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        assert len(nodes(page)) == n
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    raise AssertionError("the walk does not end")


async def everything(gql: Gql, list_name: str, user: str, **variables: Any) -> list[str]:
    query, field, _ = LISTS[list_name]
    response = await gql(query, as_user=user, variables={"n": 1000, **variables})
    page = response.ok()[field]
    assert not page["pageInfo"]["hasNextPage"]
    return [node["id"] for node in nodes(page)]


async def first_cursor(gql: Gql, list_name: str, user: str | None = None, **variables: Any) -> str:
    query, field, owner = LISTS[list_name]
    response = await gql(query, as_user=user or owner, variables={"n": 2, **variables})
    page = response.ok()[field]
    assert page["pageInfo"]["hasNextPage"], f"{list_name} has a single page"
    return str(page["pageInfo"]["endCursor"])


async def _missing_id(db: asyncpg.Connection, table: str) -> int:
    return int(await db.fetchval(f"SELECT max(id) + 1000 FROM {table}"))


@pytest.fixture
async def saved_reports(db: asyncpg.Connection) -> AsyncIterator[dict[str, list[int]]]:
    """Saved reports in both districts: {"own": ids, "other": ids}, deleted after the test."""
    other = await other_district_id(db)
    own = await db.fetchval("SELECT district_id FROM app_user WHERE username = 'admin'")
    made: dict[str, list[int]] = {"own": [], "other": []}
    for key, district in (("own", own), ("other", other)):
        author = await db.fetchval(
            "SELECT id FROM app_user WHERE district_id = $1 ORDER BY id LIMIT 1", district
        )
        for n in range(5):
            made[key].append(
                await db.fetchval(
                    "INSERT INTO saved_report (district_id, name, definition, created_by)"
                    " VALUES ($1, $2, $3, $4) RETURNING id",
                    district,
                    f"Cursor test {n} {key}",
                    json.dumps({"metric": "STUDENT_COUNT", "groupBy": [], "filter": {}}),
                    author,
                )
            )
    yield made
    await db.execute("DELETE FROM saved_report WHERE id = ANY($1)", made["own"] + made["other"])


@pytest.fixture
async def disclosed(gql: Gql) -> None:
    """Enough disclosures on record for several pages, whatever ran before."""
    response = await gql("{ students(first: 12) { edges { node { email } } } }", as_user="admin")
    assert len(nodes(response.ok()["students"])) == 12


# --- finding 3: a cursor pointed outside the viewer's scope ---------------------------------


async def test_student_cursors_from_other_districts_ids_answer_like_missing_ones(gql, db):
    # Before: the other district's id returned the rows after that student, a missing id [].
    other = await db.fetchval(
        "SELECT id FROM student WHERE district_id = $1 ORDER BY id LIMIT 1",
        await other_district_id(db),
    )
    for order in ORDERS[:2]:  # the teacher may not order by date of birth
        await refused_alike(
            gql,
            "students",
            {
                "from another district's student": hand_made(other),
                "from a missing id": hand_made(await _missing_id(db, "student")),
                "that is not base64": "%%%",
                "that is empty": "",
            },
            order=order,
        )


async def test_class_cursors_from_other_districts_ids_answer_like_missing_ones(gql, db):
    other = await db.fetchval(
        "SELECT id FROM class_section WHERE district_id = $1 ORDER BY id LIMIT 1",
        await other_district_id(db),
    )
    await refused_alike(
        gql,
        "classes",
        {
            "from another district's class": hand_made(other),
            "from a missing id": hand_made(await _missing_id(db, "class_section")),
            "that is not base64": "%%%",
        },
    )


async def test_saved_report_cursors_from_other_districts_ids_answer_like_missing_ones(
    gql, db, saved_reports
):
    await refused_alike(
        gql,
        "savedReports",
        {
            "from another district's report": hand_made(saved_reports["other"][0]),
            "from a missing id": hand_made(await _missing_id(db, "saved_report")),
            "that is not base64": "%%%",
        },
    )


@pytest.mark.usefixtures("disclosed")
async def test_disclosure_cursors_made_by_hand_answer_like_missing_ones(gql, db):
    other = await db.fetchval(
        "SELECT max(id) FROM disclosure WHERE district_id = $1", await other_district_id(db)
    )
    newest = await db.fetchval("SELECT max(id) FROM disclosure")
    await refused_alike(
        gql,
        "disclosures",
        {
            "from the newest id": hand_made(newest),
            "from a missing id": hand_made(await _missing_id(db, "disclosure")),
            "from another district's disclosure": hand_made(other or 1),
            "that is not base64": "%%%",
        },
    )


# --- cursors the server issued, used where they do not belong --------------------------------


def _tampered(cursor: str) -> list[str]:
    """The cursor with one character changed at its start, middle and end, and cut short."""
    changed = []
    for i in (0, len(cursor) // 2, len(cursor) - 1):
        swap = "A" if cursor[i] != "A" else "B"
        changed.append(cursor[:i] + swap + cursor[i + 1 :])
    return [*changed, cursor[:-4]]


async def test_issued_cursors_work_only_for_their_list_order_and_viewer(gql, db):
    own = await first_cursor(gql, "students", order="GRADE_LEVEL")
    # The cursor works where it was issued.
    page = await gql(STUDENTS, as_user="teacher", variables={"n": 2, "after": own,
                                                             "order": "GRADE_LEVEL"})  # fmt: skip
    assert len(nodes(page.ok()["students"])) == 2
    tampered = dict(enumerate(_tampered(own)))
    await refused_alike(
        gql,
        "students",
        {
            "from a missing id": hand_made(await _missing_id(db, "student")),
            "issued for another order": await first_cursor(gql, "students", order="NAME"),
            "issued to the principal": await first_cursor(
                gql, "students", "principal", order="GRADE_LEVEL"
            ),
            "issued to the coordinator": await first_cursor(
                gql, "students", "coordinator", order="GRADE_LEVEL"
            ),
            "issued for classes": await first_cursor(gql, "classes"),
            **{f"tampered ({i})": cursor for i, cursor in tampered.items()},
        },
        order="GRADE_LEVEL",
    )


async def test_a_students_cursor_is_refused_by_every_other_list(gql, db, saved_reports):
    for list_name, user in (("classes", "teacher"), ("savedReports", "admin"),
                            ("disclosures", "admin")):  # fmt: skip
        await refused_alike(
            gql,
            list_name,
            {
                "from a missing id": hand_made(await _missing_id(db, "student")),
                "issued for students": await first_cursor(gql, "students", user),
            },
        )


async def test_cursors_are_opaque(gql, db):
    response = await gql(STUDENTS, as_user="teacher", variables={"n": 3, "order": "GRADE_LEVEL"})
    for edge in response.ok()["students"]["edges"]:
        pk = pk_of(edge["node"]["id"])
        row = await db.fetchrow("SELECT last_name FROM student WHERE id = $1", pk)
        raw = base64.urlsafe_b64decode(edge["cursor"] + "==")
        # Neither the key in the clear (as JSON would write it) nor the id as it once was.
        for clear in (f'"{row["last_name"]}"', f",{pk}]", f"c:{pk}"):
            assert clear.encode() not in raw, clear


# --- the viewer's own cursors keep working -----------------------------------------------------


@pytest.mark.parametrize(
    ("user", "order", "n"),
    [
        ("teacher", "NAME", 3),
        ("teacher", "GRADE_LEVEL", 3),
        ("admin", "NAME", 41),
        ("admin", "GRADE_LEVEL", 41),
        ("admin", "DATE_OF_BIRTH", 41),
    ],
)
async def test_pages_cover_the_list_exactly_once(gql, db, user, order, n):
    whole = await everything(gql, "students", user, order=order)
    walked = await walk(gql, "students", user, n, order=order)
    assert walked == whole and len(set(walked)) == len(walked) > 3 * n
    # The same order as SQL gives over the same rows: the pages are in the order asked for.
    pks = [pk_of(i) for i in whole]
    expected = await db.fetch(
        f"SELECT id FROM student WHERE id = ANY($1) ORDER BY {ORDER_SQL[order]}", pks
    )
    assert pks == [r["id"] for r in expected]


async def test_page_boundaries_fall_inside_ties(gql, db):
    # Pages of 3 in grade order split runs of students in the same grade (and with the same
    # last name): the next page starts right after the tie, not after its last member.
    walked = [pk_of(i) for i in await walk(gql, "students", "teacher", 3, order="GRADE_LEVEL")]
    rows = {r["id"]: r for r in await db.fetch(
        "SELECT id, grade_level, last_name FROM student WHERE id = ANY($1)", walked)}  # fmt: skip
    splits = [
        i for i in range(3, len(walked), 3)
        if rows[walked[i - 1]]["grade_level"] == rows[walked[i]]["grade_level"]
    ]  # fmt: skip
    assert len(splits) > 3
    names = await db.fetch(
        "SELECT last_name FROM student WHERE district_id = (SELECT district_id FROM app_user"
        " WHERE username = 'admin') GROUP BY last_name HAVING count(*) > 1"
    )
    assert names, "the seed has students who share a last name"


async def test_classes_saved_reports_and_disclosures_pages_cover_the_list(
    gql, saved_reports, disclosed
):
    for list_name, user in (("classes", "teacher"), ("classes", "admin"),
                            ("savedReports", "admin")):  # fmt: skip
        whole = await everything(gql, list_name, user)
        assert await walk(gql, list_name, user, 2) == whole and len(whole) > 4
    # The record grows with every read (these included): compare the first pages only.
    query, field, _ = LISTS["disclosures"]
    newest = nodes((await gql(query, as_user="admin", variables={"n": 9})).ok()[field])
    seen: list[dict[str, Any]] = []
    after = None
    for _ in range(3):
        response = await gql(query, as_user="admin", variables={"n": 3, "after": after})
        page = response.ok()[field]
        seen += nodes(page)
        after = page["pageInfo"]["endCursor"]
    assert [d["id"] for d in seen] == [d["id"] for d in newest]


async def test_a_cursor_outlives_its_row(gql, db, saved_reports):
    # The cursor carries the sort key, not a reference: the next page is right even when the
    # row it was taken from is gone.
    whole = await everything(gql, "savedReports", "admin")
    response = await gql(SAVED_REPORTS, as_user="admin", variables={"n": 2})
    page = response.ok()["savedReports"]
    last = pk_of(page["edges"][-1]["node"]["id"])
    await db.execute("DELETE FROM saved_report WHERE id = $1", last)
    after = page["pageInfo"]["endCursor"]
    rest = await gql(SAVED_REPORTS, as_user="admin", variables={"n": 1000, "after": after})
    assert [n["id"] for n in nodes(rest.ok()["savedReports"])] == whole[2:]


@pytest.fixture
async def unknown_birth_dates(db: asyncpg.Connection) -> AsyncIterator[list[int]]:
    """Some students of school A with no date of birth, restored after the test.

    A sort key may be NULL (a OneRoster import without demographics does not know a birth
    date); PostgreSQL's row comparison is NULL as soon as it meets one, so the keyset must say
    itself where NULLs go. The column's nullability is restored as it was.
    """
    nullable = await db.fetchval(
        "SELECT is_nullable = 'YES' FROM information_schema.columns"
        " WHERE table_name = 'student' AND column_name = 'date_of_birth'"
    )
    rows = await db.fetch(
        "SELECT id, date_of_birth FROM student WHERE district_id = (SELECT district_id FROM"
        " app_user WHERE username = 'admin') ORDER BY id LIMIT 9"
    )
    await db.execute("ALTER TABLE student ALTER COLUMN date_of_birth DROP NOT NULL")
    try:
        await db.execute(
            "UPDATE student SET date_of_birth = NULL WHERE id = ANY($1)", [r["id"] for r in rows]
        )
        yield [r["id"] for r in rows]
    finally:
        await db.executemany(
            "UPDATE student SET date_of_birth = $2 WHERE id = $1",
            [(r["id"], r["date_of_birth"]) for r in rows],
        )
        if not nullable:
            await db.execute("ALTER TABLE student ALTER COLUMN date_of_birth SET NOT NULL")


async def test_pages_walk_through_null_sort_values(gql, db, unknown_birth_dates):
    whole = await everything(gql, "students", "admin", order="DATE_OF_BIRTH")
    pks = [pk_of(i) for i in whole]
    expected = await db.fetch(
        f"SELECT id FROM student WHERE id = ANY($1) ORDER BY {ORDER_SQL['DATE_OF_BIRTH']}", pks
    )
    assert pks == [r["id"] for r in expected]
    assert set(pks[-len(unknown_birth_dates) :]) == set(unknown_birth_dates)
    # Pages of 2 start inside the run of unknown dates, and end there.
    assert await walk(gql, "students", "admin", 2, order="DATE_OF_BIRTH") == whole


async def test_keyset_truth_table_with_nulls_anywhere(db):
    # Every row of a table with NULLs before, after and between non-null sort columns, taken as
    # the key in turn: the rows "after" it in SQL are exactly those after it in the order, both
    # directions, NULLs last.
    await db.execute("CREATE TEMP TABLE keyset_rows (a int, b int NOT NULL, c int, id int)")
    combos = [(a, b, c) for a in (None, 1, 2) for b in (1, 2) for c in (None, 1, 2)]
    rows = [(*combo, i) for i, combo in enumerate(combos * 2)]
    await db.executemany("INSERT INTO keyset_rows VALUES ($1, $2, $3, $4)", rows)
    columns = [Column("a", "a", nullable=True), Column("b", "b"),
               Column("c", "c", nullable=True), Column("id", "id")]  # fmt: skip
    try:
        for descending in (False, True):
            keyset = Keyset(*columns, descending=descending)
            sign = -1 if descending else 1
            expected = sorted(rows, key=lambda r: [(v is None, sign * (v or 0)) for v in r])
            for position, key in enumerate(expected):
                params: dict[str, Any] = {}
                condition = keyset.after(key, params)
                names = list(dict.fromkeys(re.findall(r":(after_\d+)", condition)))
                for n, name in enumerate(names, 1):
                    condition = condition.replace(f":{name}", f"${n}")
                sql = f"SELECT a, b, c, id FROM keyset_rows WHERE {condition}"
                found = await db.fetch(
                    f"{sql} ORDER BY {keyset.order_by}", *(params[n] for n in names)
                )
                assert [tuple(r) for r in found] == expected[position + 1 :], (key, condition)
    finally:
        await db.execute("DROP TABLE keyset_rows")


# --- what a page costs -------------------------------------------------------------------------


async def test_a_cursor_adds_no_statement(gql):
    first = await gql(STUDENTS, as_user="teacher", variables={"n": 5, "order": "GRADE_LEVEL"})
    after = first.ok()["students"]["pageInfo"]["endCursor"]
    second = await gql(
        STUDENTS, as_user="teacher", variables={"n": 5, "order": "GRADE_LEVEL", "after": after}
    )
    assert second.ok()["students"]["pageInfo"]["hasPreviousPage"]
    assert second.statements == first.statements
