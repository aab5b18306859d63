"""The generator: builds both districts in memory, then hands out their rows table by table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from app.seed.model import CHUNK_ROWS, Chunk, Row
from app.seed.plan import Plan, district_specs
from app.seed.records import Records


class Generator(Plan, Records):
    """Builds both districts in memory, then hands out rows table by table.

    Constructing it builds the model (schools, people, classes: the small tables); the large
    tables (enrollments, marks, portfolios, readiness, activity) are made by `rows()` when the
    loader asks for them, so they need not all be in memory at once.
    """

    def __init__(self, *, students: int, seed: int, today: date) -> None:
        super().__init__(seed=seed, today=today)
        self.districts = [self._district(spec) for spec in district_specs(students)]

    def rows(self) -> Iterator[Chunk]:
        """Every table's rows, in load order; the large tables are built when asked for and
        handed out in chunks of about `CHUNK_ROWS` rows."""
        self._student_rows()
        self._class_rows()
        early = ("district", "school", "term", "app_user", "role_assignment", "student",
                 "guardian_link", "consent", "class_section", "teaching_assignment")  # fmt: skip
        for table in early:
            yield Chunk(table, self._take(table), last=True)
        yield from self._chunks(("enrollment",), self._enrollment_rows())
        yield from self._chunks(("mark",), self._mark_rows())
        yield from self._chunks(
            ("portfolio", "portfolio_item", "activity_event"), self._portfolio_rows()
        )
        yield from self._chunks(("readiness_indicator",), self._readiness_rows())

    def _chunks(self, tables: tuple[str, ...], steps: Iterator[None]) -> Iterator[Chunk]:
        """Runs a builder that pauses now and then, handing out its tables' rows in chunks."""
        for _ in steps:
            if sum(len(self.tables[table]) for table in tables) >= CHUNK_ROWS:
                for table in tables:
                    yield Chunk(table, self._take(table), last=False)
        for table in tables:
            yield Chunk(table, self._take(table), last=True)

    def _take(self, table: str) -> list[Row]:
        rows, self.tables[table] = self.tables[table], []
        return rows
