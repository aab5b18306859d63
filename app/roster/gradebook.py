"""Gradebook files (`categories`, `lineItems`, `results`) → marks.

A SchoolGraph mark is one per (student, class, term); OneRoster keeps one result per (line item,
student). So the results of a student's line items in a class and grading period are summed
into one mark: score = 100 * sum(score) / sum(`resultValueMax`) (100 where a line item gives none),
rounded to the hundredth and held to 0-100; the letter follows from the score as
`app.writes.letter_for` gives it; the comment is that of the latest scored result that has one
(by `scoreDate`, then line), encrypted at rest like every mark comment. The term is the line
item's `gradingPeriodSourcedId` when that is an imported term, else the class's term.

    counts = await load_marks(loader)  # after `Loader.run`, the files staged like the others

Errors: a result naming a line item not in the set or a user who is not an imported student, a
line item naming a class not imported, a score that is no number. Warnings: a category not in
the set, a `resultValueMax` that is no positive number (read as 100), a result of a student not
enrolled in the line item's class (no mark made). Results without a score, and rows marked
`tobedeleted`, count for nothing; marks are never ended or removed by an import.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from app.roster.load import BATCH, Loader, _decrypts_to
from app.roster.messages import ERROR, WARNING
from app.roster.rows import RowParser
from app.writes import HUNDREDTH, letter_for

# (file, staging table, parser method), in the order references need them.
FILES = (
    ("categories.csv", "stg_category", "category"),
    ("lineItems.csv", "stg_line_item", "line_item"),
    ("results.csv", "stg_result", "result"),
)


class GradebookParser(RowParser):
    def _number(self, line: int, row: dict[str, str], column: str, label: str) -> Decimal | None:
        value = row.get(column, "")
        if not value:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            self._error(line, label, f"{value!r} is not a number")
            return None
        return number

    def category(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        title = self._required(line, row, "title", "title")
        if common is None or title is None:
            return None
        return (*common, title)

    def line_item(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        klass = self._required(line, row, "classsourcedid", "classSourcedId")
        raw = row.get("resultvaluemax", "")
        top: Decimal | None = None
        if raw:
            try:
                top = Decimal(raw)
            except InvalidOperation:
                top = None
            if top is None or not top.is_finite() or top <= 0:
                self._warn(line, "resultValueMax", f"{raw!r} is not a positive number; read as 100")
                top = None
        if common is None or klass is None:
            return None
        return (*common, klass, row.get("categorysourcedid") or None,
                row.get("gradingperiodsourcedid") or None, top)  # fmt: skip

    def result(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        item = self._required(line, row, "lineitemsourcedid", "lineItemSourcedId")
        # 1.1 and 1.2 name the student `studentSourcedId`; some exports say `userSourcedId`.
        if not row.get("studentsourcedid") and row.get("usersourcedid"):
            row["studentsourcedid"] = row["usersourcedid"]
        student = self._required(line, row, "studentsourcedid", "studentSourcedId")
        score = self._number(line, row, "score", "score")
        day = self._date(line, row, "scoredate", "scoreDate", required=False)
        if common is None or item is None or student is None:
            return None
        return (*common, item, student, score, day, row.get("comment") or None)


async def load_marks(loader: Loader) -> Counter[str]:
    """Check the staged gradebook against the imported classes and students; write marks."""
    c, d = loader.c, loader.d
    for table, file, entity in (("stg_category", "categories.csv", "categories"),
                                ("stg_line_item", "lineItems.csv", "lineitems"),
                                ("stg_result", "results.csv", "results")):  # fmt: skip
        await loader._dedupe(table, file, entity)
    await loader._report(
        ERROR, "lineItems.csv", "classSourcedId",
        "SELECT line, 'no such class: ' || quote_literal(class_sid) FROM stg_line_item li"
        " WHERE NOT li.deleted AND NOT EXISTS (SELECT 1 FROM class_section k"
        " WHERE k.district_id = $1 AND k.sourced_id = li.class_sid) ORDER BY line", d,
    )  # fmt: skip
    await loader._report(
        WARNING, "lineItems.csv", "categorySourcedId",
        "SELECT line, 'category ' || quote_literal(category_sid) || ' is not in the set'"
        " FROM stg_line_item li WHERE category_sid IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM stg_category g WHERE g.sid = li.category_sid)"
        " ORDER BY line",
    )  # fmt: skip
    await loader._report(
        ERROR, "results.csv", "lineItemSourcedId",
        "SELECT line, 'no such line item: ' || quote_literal(line_item_sid) FROM stg_result r"
        " WHERE NOT r.deleted AND NOT EXISTS (SELECT 1 FROM stg_line_item li"
        " WHERE li.sid = r.line_item_sid) ORDER BY line",
    )  # fmt: skip
    await loader._report(
        ERROR, "results.csv", "studentSourcedId",
        "SELECT line, 'no such student: ' || quote_literal(student_sid) FROM stg_result r"
        " WHERE NOT r.deleted AND NOT EXISTS (SELECT 1 FROM student s"
        " WHERE s.district_id = $1 AND s.sourced_id = r.student_sid) ORDER BY line", d,
    )  # fmt: skip
    scored = (
        "SELECT r.line, s.id AS student_id, k.id AS class_id, coalesce(t.id, k.term_id) AS"
        " term_id, r.score, coalesce(li.max, 100) AS max, r.comment, r.score_date"
        " FROM stg_result r JOIN stg_line_item li ON li.sid = r.line_item_sid"
        " JOIN student s ON s.district_id = $1 AND s.sourced_id = r.student_sid"
        " JOIN class_section k ON k.district_id = $1 AND k.sourced_id = li.class_sid"
        " LEFT JOIN term t ON t.district_id = $1 AND t.sourced_id = li.period_sid"
        " WHERE NOT r.deleted AND NOT li.deleted AND r.score IS NOT NULL"
    )
    enrolled = (
        "EXISTS (SELECT 1 FROM enrollment e WHERE e.student_id = x.student_id"
        " AND e.class_id = x.class_id)"
    )
    await loader._report(
        WARNING, "results.csv", "studentSourcedId",
        f"SELECT line, 'the student is not enrolled in the line item''s class; no mark'"
        f" FROM ({scored}) x WHERE NOT {enrolled} ORDER BY line", d,
    )  # fmt: skip
    counts: Counter[str] = Counter()
    if loader.messages.errors_total:
        return counts
    await c.execute(
        "CREATE TEMP TABLE gb_mark ON COMMIT DROP AS SELECT student_id, class_id, term_id,"
        " least(greatest(round(100 * sum(score) / sum(max), 2), 0), 100) AS score,"
        " (array_agg(comment ORDER BY score_date DESC NULLS LAST, line DESC)"
        "  FILTER (WHERE comment IS NOT NULL))[1] AS comment"
        f" FROM ({scored}) x WHERE {enrolled} GROUP BY student_id, class_id, term_id",
        d,
    )
    await c.execute(
        "CREATE TEMP TABLE gb_sealed (id bigint PRIMARY KEY, student_id bigint, class_id bigint,"
        " term_id bigint, score numeric(5,2), letter text, comment bytea, is_new bool)"
        " ON COMMIT DROP"
    )
    new = await c.fetchval(
        "SELECT count(*) FROM gb_mark g WHERE NOT EXISTS (SELECT 1 FROM mark m WHERE"
        " m.student_id = g.student_id AND m.class_id = g.class_id AND m.term_id = g.term_id)"
    )
    fresh = [
        int(r[0])
        for r in await c.fetch(
            "SELECT nextval(pg_get_serial_sequence('mark', 'id')) FROM generate_series(1, $1)", new
        )
    ]
    ring = await loader._keyring()
    query = (
        "SELECT g.student_id, g.class_id, g.term_id, g.score, g.comment,"
        " m.id, m.score, m.letter, m.comment FROM gb_mark g LEFT JOIN mark m"
        " ON m.student_id = g.student_id AND m.class_id = g.class_id AND m.term_id = g.term_id"
    )
    batch: list[tuple[Any, ...]] = []
    async for row in c.cursor(query, prefetch=BATCH):
        student_id, class_id, term_id, score, comment, mark_id, old_score, old_letter, blob = row
        score = Decimal(score).quantize(HUNDREDTH)
        letter = letter_for(score)
        same_comment = (blob is None and comment is None) or (
            blob is not None and _decrypts_to(ring, "mark", "comment", mark_id, blob, comment)
        )
        if mark_id is not None and old_score == score and old_letter == letter and same_comment:
            counts["unchanged"] += 1
            continue
        is_new = mark_id is None
        if is_new:
            mark_id = fresh.pop()
        sealed = (
            blob
            if same_comment
            else None
            if comment is None
            else ring.encrypt("mark", "comment", mark_id, comment)
        )
        batch.append((mark_id, student_id, class_id, term_id, score, letter, sealed, is_new))
        counts["inserted" if is_new else "updated"] += 1
        if len(batch) >= BATCH:
            await c.copy_records_to_table("gb_sealed", records=batch)
            batch = []
    if batch:
        await c.copy_records_to_table("gb_sealed", records=batch)
    await c.execute(
        "UPDATE mark m SET score = g.score, letter = g.letter, comment = g.comment,"
        " recorded_by = NULL, recorded_at = now() FROM gb_sealed g WHERE m.id = g.id"
        " AND NOT g.is_new"
    )
    await c.execute(
        "INSERT INTO mark (id, district_id, student_id, class_id, term_id, score, letter,"
        " comment, recorded_by, recorded_at) SELECT id, $1, student_id, class_id, term_id, score,"
        " letter, comment, NULL, now() FROM gb_sealed WHERE is_new",
        d,
    )
    return counts
