"""The demo district: a deterministic, realistic data set (`schoolgraph seed`, SPEC §12).

What `seed()` builds, for `students` students and a `today`:

- **Two districts.** "Riverside Unified School District" holds about 95% of the students and
  every demo account; "Cedar Valley Independent School District" (5%, at least 50 students,
  at least two schools) has its own users and classes and exists so that tests and demos can
  show that nothing crosses districts.
- **Schools by level**: elementary (K-5, grades 0..5), middle (6-8) and high (9-12), sized like
  real campuses (about 450, 650 and 900 students, so roughly one school per 600 students).
  Riverside has at least two high schools: school A ("Riverside High School", where the demo
  staff work) and school B ("Lakeview High School").
- **Terms** relative to `today`: the fall and spring terms of the current school year and the
  term before the current one. The current term is the one containing `today` or, between
  terms (summer, winter break), the next one.
- **Students** in families: 1-4 children per household share a last name and 1-2 guardians
  (parent, guardian or relative; a few links carry a custody restriction). Names come from
  Faker pools matched to the federal race/ethnicity categories, birth dates fit the grade (a
  few students were held back; some seniors are 18), about 10% have a preferred name and 3%
  opted out of directory information. A parent's COPPA consent is on file for about 90% of
  the students under 13 (on `today`) and 96% of the others.
- **Classes**: secondary students take four core courses (sections mostly of one grade) and
  two electives (mixed grades); elementary students have a homeroom (four core classes with one
  teacher) plus fine arts and PE. Sections hold 20-30 students; teachers teach about five
  classes of one department. The previous term has its own classes, enrollments that ended,
  and final marks; most current classes have progress marks.
- **Portfolios** (grades 6+), **readiness indicators** (Texas CCMR, grades 11-12) and **activity
  events** (logins and portfolio edits in the last 12 weeks). Nothing is collected from a
  student under 13 without COPPA consent, as the product itself refuses it: such a student (in
  grade 6 or 7) has no portfolio, no items, no headline and no portfolio edits, only logins; so
  `schoolgraph retention run` finds no COPPA content to erase in a fresh demo.
- **Demo accounts** (`DEMO_ACCOUNTS`, password `DEMO_PASSWORD`), woven into that data: the
  `teacher` teaches five current math sections at school A (about 115 students), `student` is a
  14-16 year old in one of them, and `guardian` is the parent of `student` and of a teenager at
  school B. No legitimate-interest grants, disclosures or data requests are created.

The package, a module per job: `vocab` (reference data: categories, courses, names, words),
`calendar` (terms and dates), `accounts` (the demo accounts), `names` (name pools), `model` (the
districts in memory and the tables' columns); the generator's stages, each a class built on the
one before, `base` (shared state) -> `people` -> `classes` -> `plan` (districts, schools) and
`records` (rows of the large tables), joined in `generator`; `load` writes the rows.

Determinism: one seeded `random.Random` drives every choice and Faker is seeded with the same
seed, so the same (students, seed, today) gives the same rows, ids included; even the demo
password hash uses a salt derived from the seed.

Speed: rows are built as tuples with ids assigned here, in a worker thread that runs ahead of
the loader, and loaded with binary COPY in one transaction; secondary indexes are built and
foreign keys checked once per table after its load (as `pg_restore` does) instead of once per
row. 100,000 students take under 40 seconds on two cores.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

import asyncpg

from app.database import asyncpg_dsn
from app.seed.accounts import (
    DEMO_ACCOUNTS,
    DEMO_PASSWORD,
    DISTRICT_NAME,
    MIN_STUDENTS,
    SCHOOL_A_NAME,
    SCHOOL_B_NAME,
    SECOND_DISTRICT_NAME,
    DemoAccount,
)
from app.seed.generator import Generator
from app.seed.load import load
from app.seed.model import TABLES, SeedError

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_PASSWORD",
    "DISTRICT_NAME",
    "MIN_STUDENTS",
    "SCHOOL_A_NAME",
    "SCHOOL_B_NAME",
    "SECOND_DISTRICT_NAME",
    "TABLES",
    "DemoAccount",
    "SeedError",
    "SeedSummary",
    "seed",
]


@dataclass(frozen=True)
class SeedSummary:
    students: int
    seed: int
    today: date
    rows: Mapping[str, int]  # table name -> rows loaded, in load order
    elapsed: float  # seconds

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


async def seed(
    url: str,
    *,
    students: int = 2000,
    seed: int = 1,
    progress: bool = True,
    today: date | None = None,
) -> SeedSummary:
    """Build the demo districts in the empty, migrated database at `url` (a postgresql:// URL).

    Raises `SeedError` when the database already holds a district (nothing is written then) or
    when `students` is below `MIN_STUDENTS`.
    """
    if students < MIN_STUDENTS:
        raise SeedError(f"the demo district needs at least {MIN_STUDENTS} students, not {students}")
    started = time.perf_counter()
    today = today or date.today()
    # Millions of rows are made and kept for a while: the cyclic garbage collector would walk
    # them again and again (a tenth of the Python time) and find no garbage.
    collecting = gc.isenabled()
    gc.disable()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await load(
            connection,
            lambda: Generator(students=students, seed=seed, today=today),
            progress=progress,
        )
    finally:
        await connection.close()
        if collecting:
            gc.enable()
    return SeedSummary(
        students=students,
        seed=seed,
        today=today,
        rows=MappingProxyType(rows),
        elapsed=time.perf_counter() - started,
    )
