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
  opted out of directory information. Most under-13 students have a recorded COPPA consent.
- **Classes**: secondary students take four core courses (sections mostly of one grade) and
  two electives (mixed grades); elementary students have a homeroom (four core classes with one
  teacher) plus fine arts and PE. Sections hold 20-30 students; teachers teach about five
  classes of one department. The previous term has its own classes, enrollments that ended,
  and final marks; most current classes have progress marks.
- **Portfolios** (grades 6+), **readiness indicators** (Texas CCMR, grades 11-12) and **activity
  events** (logins and portfolio edits in the last 12 weeks).
- **Demo accounts** (`DEMO_ACCOUNTS`, password `DEMO_PASSWORD`), woven into that data: the
  `teacher` teaches five current math sections at school A (about 115 students), `student` is a
  14-16 year old in one of them, and `guardian` is the parent of `student` and of a teenager at
  school B. No legitimate-interest grants, disclosures or data requests are created.

Determinism: one seeded `random.Random` drives every choice and Faker is seeded with the same
seed, so the same (students, seed, today) gives the same rows, ids included; even the demo
password hash uses a salt derived from the seed.

Speed: rows are built as tuples with ids assigned here, in a worker thread that runs ahead of
the loader, and loaded with binary COPY in one transaction; secondary indexes are built and
foreign keys checked once per table after its load (as `pg_restore` does) instead of once per
row. 100,000 students take under 40 seconds on two cores.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import logging
import math
import operator
import random
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import asyncpg
from argon2 import PasswordHasher
from faker import Faker
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.database import asyncpg_dsn
from app.encryption import ENCRYPTED, KEYS_SQL, Keyring, MasterKey, data_keys
from app.models import ClassVisibility, ConsentKind, Role, Visibility

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

_T = TypeVar("_T")

_log = logging.getLogger(__name__)

# --- Public API ---------------------------------------------------------------------------------

# Published in the README and by `schoolgraph demo-accounts`; demo mode only (SPEC §12).
DEMO_PASSWORD = "demo-password-1"  # noqa: S105

# The smallest district that still fits the demo accounts' story (a teacher with ~115 students
# at school A, a second high school, a second district of 50 students).
MIN_STUDENTS = 300


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    description: str


DISTRICT_NAME = "Riverside Unified School District"
SECOND_DISTRICT_NAME = "Cedar Valley Independent School District"
SCHOOL_A_NAME = "Riverside High School"
SCHOOL_B_NAME = "Lakeview High School"

DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin", Role.DISTRICT_ADMIN.value, f"District administrator, {DISTRICT_NAME}"),
    DemoAccount("principal", Role.SCHOOL_ADMIN.value, f"Principal of {SCHOOL_A_NAME}"),
    DemoAccount("coordinator", Role.COORDINATOR.value, f"Counselor/coordinator at {SCHOOL_A_NAME}"),
    DemoAccount("designee", Role.DESIGNEE.value, f"Designee at {SCHOOL_A_NAME}, no grant yet"),
    DemoAccount(
        "teacher", Role.TEACHER.value, f"Math teacher at {SCHOOL_A_NAME}: five current classes"
    ),
    DemoAccount(
        "guardian",
        Role.GUARDIAN.value,
        f"Parent of `student` and of a teenager at {SCHOOL_B_NAME}",
    ),
    DemoAccount(
        "student", Role.STUDENT.value, f"Student (14-16) at {SCHOOL_A_NAME}, in a `teacher` class"
    ),
    DemoAccount("reporter", Role.REPORTING.value, "Reporting service account (aggregates only)"),
    DemoAccount("support", Role.SUPPORT.value, "Vendor support: nothing without a grant"),
)


class SeedError(RuntimeError):
    """The database cannot be seeded (it already holds data, or is not migrated)."""


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
        async with connection.transaction():
            await _check_empty(connection)
            ring = Keyring.unwrap(
                MasterKey.from_settings(), data_keys(await connection.fetch(KEYS_SQL))
            )
            with _Progress(progress) as bar:
                rows = await _Loader(connection, bar, ring).run(
                    lambda: _Generator(students=students, seed=seed, today=today)
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


# --- Reference data -----------------------------------------------------------------------------

# Federal race/ethnicity categories (OMB 1997, as reported to NCES).
HISPANIC = "Hispanic or Latino"
WHITE = "White"
BLACK = "Black or African American"
ASIAN = "Asian"
NATIVE = "American Indian or Alaska Native"
PACIFIC = "Native Hawaiian or Other Pacific Islander"
MULTIRACIAL = "Two or More Races"
ETHNICITIES = (HISPANIC, WHITE, BLACK, ASIAN, NATIVE, PACIFIC, MULTIRACIAL)

GENDERS = ("female", "male", "nonbinary")

ELEMENTARY, MIDDLE, HIGH = "elementary", "middle", "high"
LEVEL_GRADES = {ELEMENTARY: range(0, 6), MIDDLE: range(6, 9), HIGH: range(9, 13)}
# Typical campus enrolments, which set the number of schools of each level.
LEVEL_SCHOOL_SIZE = {ELEMENTARY: 450, MIDDLE: 650, HIGH: 900}
LEVEL_SUFFIX = {ELEMENTARY: "Elementary School", MIDDLE: "Middle School", HIGH: "High School"}
# Slightly fewer students in later high-school grades, as dropouts and early graduates leave.
GRADE_WEIGHTS = {9: 1.08, 10: 1.0, 11: 0.96, 12: 0.92}

# School A must be big enough for the demo teacher's ~115 students plus other sections.
DEMO_SCHOOL_MIN = 150
DEMO_SUBJECT = "Mathematics"

# Course catalog: subject -> one (title, code) per grade of the level.
_Course = tuple[str, str]
CORE_COURSES: dict[str, dict[str, tuple[_Course, ...]]] = {
    MIDDLE: {
        "English": (("English Language Arts 6", "ELA6"), ("English Language Arts 7", "ELA7"),
                    ("English Language Arts 8", "ELA8")),
        "Mathematics": (("Math 6", "MTH6"), ("Math 7", "MTH7"), ("Math 8", "MTH8")),
        "Science": (("Science 6", "SCI6"), ("Science 7", "SCI7"), ("Science 8", "SCI8")),
        "Social Studies": (("Contemporary World Cultures", "CWC6"), ("Texas History", "TXH7"),
                           ("U.S. History to 1877", "USH8")),
    },
    HIGH: {
        "English": (("English I", "ENG1"), ("English II", "ENG2"), ("English III", "ENG3"),
                    ("English IV", "ENG4")),
        "Mathematics": (("Algebra I", "ALG1"), ("Geometry", "GEOM"), ("Algebra II", "ALG2"),
                        ("Precalculus", "PCAL")),
        "Science": (("Biology", "BIO"), ("Chemistry", "CHEM"), ("Physics", "PHYS"),
                    ("Anatomy and Physiology", "ANAT")),
        "Social Studies": (("World Geography", "WGEO"), ("World History", "WHIS"),
                           ("U.S. History", "USHS"), ("Government and Economics", "GOVE")),
    },
}  # fmt: skip

# Electives: (subject, title, code, relative popularity). Students take two different ones.
ELECTIVES: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    MIDDLE: (
        ("World Languages", "Spanish I", "SPN1", 6),
        ("Fine Arts", "Art", "ART", 6),
        ("Fine Arts", "Band", "BAND", 5),
        ("Fine Arts", "Choir", "CHOR", 4),
        ("Fine Arts", "Theatre", "THEA", 3),
        ("Physical Education", "Physical Education", "PE", 12),
        ("Technology Applications", "Computer Literacy", "TECH", 6),
        ("Career and Technical Education", "Career Exploration", "CTE", 4),
    ),
    HIGH: (
        ("World Languages", "Spanish I", "SPN1", 10),
        ("World Languages", "Spanish II", "SPN2", 8),
        ("World Languages", "French I", "FRN1", 3),
        ("Fine Arts", "Art I", "ART1", 6),
        ("Fine Arts", "Band", "BAND", 5),
        ("Fine Arts", "Choir", "CHOR", 4),
        ("Fine Arts", "Theatre Arts I", "THA1", 3),
        ("Career and Technical Education", "Principles of Health Science", "HLTH", 5),
        ("Career and Technical Education", "Principles of Engineering", "ENGR", 4),
        ("Career and Technical Education", "Culinary Arts", "CULN", 4),
        ("Career and Technical Education", "Welding I", "WELD", 2),
        ("Technology Applications", "Computer Science I", "CS1", 5),
        ("Physical Education", "Athletics", "ATHL", 7),
        ("Physical Education", "Health and Wellness", "HLTW", 5),
        ("Social Studies", "AP Psychology", "APPS", 3),
    ),
}
# Elementary homerooms: four core subjects with the homeroom teacher, then two specials.
HOMEROOM_SUBJECTS = (
    ("Reading and Language Arts", "RLA"),
    ("Mathematics", "MATH"),
    ("Science", "SCI"),
    ("Social Studies", "SS"),
)
SPECIALS = (("Fine Arts", "ART"), ("Physical Education", "PE"))

SECTION_TARGET, SECTION_MAX = 25, 30
HOMEROOM_TARGET = 22
CLASSES_PER_TEACHER = 6  # at most; departments are split evenly, so most teach 4-6

PLACE_NAMES = (
    "Oak Ridge", "Cedar Creek", "Willow Springs", "Pecan Grove", "Bluebonnet", "Hillcrest",
    "Meadowbrook", "Stone Oak", "Brushy Creek", "Mesquite", "Live Oak", "Spring Valley",
    "Deer Park", "Sunset Ridge", "Lone Star", "Canyon Vista", "Cypress Bend", "Red Bud",
    "Prairie View", "Walnut Springs", "Eagle Pass", "Forest Glen", "Magnolia", "Sandstone",
    "Rolling Hills", "Timber Creek", "Northwood", "Southfield", "Eastside", "Westwood",
    "Lakeside", "Brookhollow", "Highland Park", "Mockingbird", "Elm Grove", "Barton Hills",
)  # fmt: skip
# Schools named after people use these (a plausible mix of Texan and national figures).
NAMESAKES = (
    "Barbara Jordan", "Sam Houston", "Lorenzo de Zavala", "Sally Ride", "Cesar Chavez",
    "Mae Jemison", "Lyndon B. Johnson", "Sandra Day O'Connor", "Ellen Ochoa", "Hector P. Garcia",
    "Jovita Idar", "Thurgood Marshall", "Ann Richards", "Audie Murphy", "Bessie Coleman",
    "Amelia Earhart", "Frederick Douglass", "Rosa Parks", "Katherine Johnson", "Neil Armstrong",
    "Harriet Tubman", "Raul Yzaguirre", "Emma Tenayuca", "Jane Long", "George Washington Carver",
    "Eleanor Roosevelt", "Booker T. Washington", "Clara Barton", "John F. Kennedy", "Walt Whitman",
)  # fmt: skip
ASIAN_SURNAMES = (
    "Nguyen", "Tran", "Le", "Pham", "Kim", "Lee", "Park", "Choi", "Patel", "Shah", "Singh",
    "Gupta", "Chen", "Wang", "Li", "Zhang", "Liu", "Huang", "Wu", "Yang", "Nakamura", "Tanaka",
    "Santos", "Reyes", "Cruz", "Khan", "Ali", "Vo", "Hoang", "Chang",
)  # fmt: skip
ASIAN_GIVEN = {
    "female": ("Anika", "Priya", "Linh", "Mai", "Hana", "Yuna", "Mei", "Aisha", "Ananya", "Ji-woo"),
    "male": ("Arjun", "Aarav", "Minh", "Duc", "Kenji", "Min-jun", "Wei", "Rohan", "Ravi", "Hiro"),
}
UNISEX_GIVEN = (
    "Alex", "Jordan", "Taylor", "Riley", "Casey", "Jamie", "Avery", "Quinn", "Rowan", "Sage",
    "Skyler", "Emerson", "River", "Charlie", "Remy", "Kai", "Morgan", "Reese", "Finley", "Ari",
)  # fmt: skip
NICKNAMES = {
    "William": "Will", "Robert": "Bobby", "Elizabeth": "Liz", "Katherine": "Kate",
    "Christopher": "Chris", "Michael": "Mike", "Matthew": "Matt", "Nicholas": "Nick",
    "Jennifer": "Jen", "Alexander": "Alex", "Alexandra": "Alex", "Benjamin": "Ben",
    "Samantha": "Sam", "Samuel": "Sam", "Daniel": "Danny", "Jonathan": "Jon", "Joseph": "Joe",
    "Jessica": "Jess", "Rebecca": "Becca", "Victoria": "Tori", "Gabriel": "Gabe",
    "Gabriela": "Gabi", "Francisco": "Paco", "Guadalupe": "Lupe", "Alejandro": "Alex",
    "Jose": "Pepe", "Anthony": "Tony", "Andrew": "Drew", "Margaret": "Maggie", "Isabella": "Bella",
    "Zachary": "Zach", "Timothy": "Tim", "Thomas": "Tom", "Patricia": "Trish", "Abigail": "Abby",
}  # fmt: skip
GUARDIAN_EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com")

MARK_COMMENTS = (
    # (lowest score the comment fits, text)
    (90, "Outstanding work this term."),
    (90, "Consistently prepared and a leader in group work."),
    (80, "Solid effort; keep reviewing notes before tests."),
    (80, "Good participation in class discussions."),
    (70, "Steady progress; tutoring on Tuesdays would help."),
    (70, "Please turn in homework on time."),
    (0, "Missing several assignments; let's schedule a conference."),
    (0, "Needs to complete make-up work to raise this grade."),
)
HEADLINES = (
    "Future registered nurse", "Aspiring software engineer", "Exploring health science careers",
    "Interested in law and public service", "Future teacher", "Aspiring welder and fabricator",
    "Planning to study engineering", "Future veterinarian", "Interested in business",
    "Aspiring chef", "Considering military service", "Undecided, exploring options",
    "Future architect", "Interested in the performing arts", "Aspiring electrician",
)  # fmt: skip
# Portfolio item kinds with their share and a few titles each.
PORTFOLIO_KINDS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("interest", 0.24, (
        "Career interest: health science", "Career interest: software development",
        "Exploring veterinary medicine", "Interest in architecture and design",
        "Career cluster: law and public safety", "Interest: culinary arts",
        "Exploring aviation careers", "Interest in teaching", "Exploring the skilled trades",
    )),
    ("assessment", 0.16, (
        "Career aptitude assessment results", "PSAT 8/9 score report", "PSAT/NMSQT score report",
        "Work values survey", "Strengths assessment", "ASVAB career exploration results",
    )),
    ("reflection", 0.2, (
        "Reflection on job shadow day", "What I learned from the science fair",
        "Reflection on first semester goals", "Career fair reflection",
        "Reflection on volunteer hours", "What I learned leading a group project",
    )),
    ("goal", 0.2, (
        "Raise my math grade to a B", "Finish the year with all A's and B's",
        "Earn an industry certification before graduation", "Apply to three colleges",
        "Complete 20 volunteer hours", "Join a club related to my career interest",
        "Take a dual credit course next year", "Improve my reading score",
    )),
    ("artifact", 0.13, (
        "Robotics project write-up", "Art portfolio: self-portrait", "History fair project",
        "Persuasive essay", "Coding project: weather app", "Science fair poster", "Resume draft",
    )),
    ("certification", 0.07, (
        "OSHA 10-Hour General Industry", "CPR and First Aid", "Microsoft Office Specialist: Word",
        "ServSafe Food Handler", "Adobe Certified Professional: Photoshop",
    )),
)  # fmt: skip
PORTFOLIO_BODIES = (
    "I want to learn more about this before choosing my courses for next year.",
    "My counselor suggested I look into the programs at the community college.",
    "This connects to what I enjoy most in class.",
    "I worked on this over several weeks and got feedback from my teacher.",
    "Next step: talk to someone who works in this field.",
    "I was surprised by how much I liked this.",
    "I plan to update this at the end of the semester.",
    "This shows what I can do when I plan ahead.",
)
ITEM_VISIBILITY = (
    (Visibility.PRIVATE.value, 0.4),
    (Visibility.TEACHERS.value, 0.35),
    (Visibility.COORDINATOR.value, 0.25),
)
AP_EXAMS = (
    "AP English Language", "AP U.S. History", "AP Biology", "AP Calculus AB", "AP Psychology",
    "AP Spanish Language", "AP Human Geography",
)  # fmt: skip
IB_EXAMS = ("IB Mathematics SL", "IB English A HL", "IB Biology SL")
CERTIFICATIONS = (
    "Certified Nursing Assistant", "CompTIA A+", "AWS Certified Cloud Practitioner",
    "ServSafe Manager", "AWS D1.1 Structural Welding", "Microsoft Office Specialist Excel",
    "Pharmacy Technician (PTCB)", "NCCER Core",
)  # fmt: skip
MILITARY_BRANCHES = ("U.S. Army", "U.S. Navy", "U.S. Air Force", "U.S. Marine Corps")

# Everything happens in Central time (the district is in Texas); a fixed offset is enough here.
LOCAL_TZ = timezone(timedelta(hours=-6), "CST")
ACTIVITY_DAYS = 84  # 12 weeks of activity events


@dataclass(frozen=True)
class _DistrictSpec:
    id: int
    name: str
    domain: str
    students: int
    ethnicity_weights: tuple[float, ...]  # in ETHNICITIES order
    area_codes: tuple[str, ...]
    demo: bool


def _district_specs(students: int) -> tuple[_DistrictSpec, _DistrictSpec]:
    second = max(50, round(students * 0.05))
    return (
        _DistrictSpec(
            1, DISTRICT_NAME, "riversideusd.org", students - second,
            # An urban Texas district: TEA shares for the state, roughly.
            (0.52, 0.25, 0.13, 0.05, 0.004, 0.002, 0.044), ("512", "737"), demo=True,
        ),
        _DistrictSpec(
            2, SECOND_DISTRICT_NAME, "cedarvalleyisd.org", second,
            # A rural district: more White and Hispanic students, fewer Asian students.
            (0.38, 0.50, 0.06, 0.01, 0.01, 0.001, 0.039), ("254", "325"), demo=False,
        ),
    )  # fmt: skip


# --- Calendar -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TermDates:
    name: str
    starts_on: date
    ends_on: date
    school_year: int  # the calendar year the school year starts in


def _on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _on_or_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def _school_year_terms(year: int) -> tuple[_TermDates, _TermDates]:
    """Fall starts the Monday after Aug 12 and ends before winter break; spring runs Jan-May."""
    fall = _TermDates(
        f"Fall {year}",
        _on_or_after(date(year, 8, 12), 0),
        _on_or_before(date(year, 12, 19), 4),
        year,
    )
    spring = _TermDates(
        f"Spring {year + 1}",
        _on_or_after(date(year + 1, 1, 6), 0),
        _on_or_before(date(year + 1, 5, 29), 4),
        year,
    )
    return fall, spring


@dataclass(frozen=True)
class _Calendar:
    terms: tuple[_TermDates, ...]  # chronological
    current: _TermDates
    previous: _TermDates

    @property
    def school_year(self) -> int:
        return self.current.school_year


def _calendar(today: date) -> _Calendar:
    candidates = [t for y in range(today.year - 2, today.year + 1) for t in _school_year_terms(y)]
    # The term containing today, or the next one when today falls between terms.
    index = next(i for i, t in enumerate(candidates) if t.ends_on >= today)
    current, previous = candidates[index], candidates[index - 1]
    terms = set(_school_year_terms(current.school_year)) | {previous}
    return _Calendar(tuple(sorted(terms, key=lambda t: t.starts_on)), current, previous)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- Names --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)  # names repeat: pools of a few thousand
def _slug(name: str) -> str:
    """ASCII letters and digits only: `José María` -> `josemaria` (for usernames and emails)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalnum())


@dataclass(frozen=True)
class _NamePools:
    """Names drawn from Faker once; the seeded Random picks from them (Faker per row is slow).

    Drawing from Faker's weighted lists keeps realistic frequencies: common names repeat.
    """

    first: Mapping[tuple[str, str], tuple[str, ...]]  # (locale, gender) -> given names
    last: Mapping[str, tuple[str, ...]]  # locale -> family names

    @classmethod
    def build(cls, seed: int) -> _NamePools:
        first: dict[tuple[str, str], tuple[str, ...]] = {}
        last: dict[str, tuple[str, ...]] = {}
        for locale, size in (("en_US", 3000), ("es_MX", 1200)):
            fake = Faker(locale)
            fake.seed_instance(seed)
            first[locale, "female"] = tuple(fake.first_name_female() for _ in range(size))
            first[locale, "male"] = tuple(fake.first_name_male() for _ in range(size))
            last[locale] = tuple(fake.last_name() for _ in range(size))
        return cls(first=first, last=last)


# --- The model ----------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _School:
    id: int
    district_id: int
    name: str
    code: str
    level: str
    grade_sizes: dict[int, int]
    students: list[_Student] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(self.grade_sizes.values())


@dataclass(eq=False, slots=True)
class _Term:
    id: int
    district_id: int
    dates: _TermDates


@dataclass(eq=False, slots=True)
class _Student:
    id: int
    district_id: int
    school: _School
    grade: int
    born: date
    gender: str
    user_id: int
    ability: float  # one latent value per student keeps their marks consistent across classes
    number: str = ""
    first: str = ""
    last: str = ""
    ethnicity: str = ""
    email: str = ""
    household: _Household | None = None


@dataclass(eq=False, slots=True)
class _Guardian:
    user_id: int
    relationship: str  # parent, guardian, relative
    legal: bool
    data_access: bool


@dataclass(eq=False, slots=True)
class _Household:
    children: list[_Student]
    guardians: list[_Guardian] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class _Section:
    id: int
    district_id: int
    school: _School
    term: _Term
    title: str
    code: str
    subject: str
    department: tuple[str, ...]  # sections of one department go to the same few teachers
    grade_levels: list[int]
    visibility: str
    students: list[_Student]
    elective: bool
    teacher_id: int = 0


@dataclass(eq=False, slots=True)
class _District:
    spec: _DistrictSpec
    schools: list[_School] = field(default_factory=list)
    terms: dict[str, _Term] = field(default_factory=dict)  # "current", "previous" and by name
    students: list[_Student] = field(default_factory=list)
    households: list[_Household] = field(default_factory=list)
    sections: list[_Section] = field(default_factory=list)
    admin_id: int = 0


Row = tuple[Any, ...]


class _Chunk(NamedTuple):
    table: str
    rows: list[Row]
    last: bool  # the table is complete with these rows


CHUNK_ROWS = 100_000  # the large tables are handed to the loader in chunks of about this size

# Tables in load order (parents before children) with the columns the COPY fills.
TABLES: dict[str, tuple[str, ...]] = {
    "district": ("id", "name", "min_cell_size"),
    "school": ("id", "district_id", "name", "code", "level"),
    "term": ("id", "district_id", "name", "starts_on", "ends_on"),
    "app_user": (
        "id", "district_id", "username", "email", "first_name", "last_name", "phone",
        "password_hash", "created_at",
    ),
    "role_assignment": ("id", "district_id", "user_id", "role", "school_id", "granted_by",
                        "created_at"),
    "student": (
        "id", "district_id", "school_id", "user_id", "student_number", "first_name", "last_name",
        "preferred_name", "grade_level", "date_of_birth", "gender", "ethnicity", "email", "phone",
        "enrollment_status", "directory_opt_out", "coppa_consent",
    ),
    "guardian_link": (
        "id", "district_id", "guardian_user_id", "student_id", "relationship", "legal_guardian",
        "data_access", "starts_on", "ends_on",
    ),
    "consent": ("id", "district_id", "student_id", "kind", "granted", "given_by", "recorded_at"),
    "class_section": (
        "id", "district_id", "school_id", "term_id", "title", "code", "subject", "grade_levels",
        "visibility",
    ),
    "teaching_assignment": ("id", "district_id", "class_id", "staff_user_id", "starts_on",
                            "ends_on"),
    "enrollment": ("id", "district_id", "class_id", "student_id", "begins_on", "ends_on"),
    "mark": (
        "id", "district_id", "student_id", "class_id", "term_id", "score", "letter", "comment",
        "recorded_by", "recorded_at",
    ),
    "portfolio": ("id", "district_id", "student_id", "headline", "created_at"),
    "portfolio_item": (
        "id", "district_id", "portfolio_id", "student_id", "kind", "title", "body", "visibility",
        "created_at", "updated_at",
    ),
    "readiness_indicator": (
        "id", "district_id", "student_id", "indicator", "category", "met", "value", "achieved_on",
        "source",
    ),
    "activity_event": ("id", "district_id", "user_id", "student_id", "school_id", "kind",
                       "occurred_at"),
}  # fmt: skip

# Scores 50.0-100.0 in tenths, made once: a Decimal per mark would be the slowest part of marks.
_SCORES = tuple(Decimal(n).scaleb(-1) for n in range(1001))


def _letter(score_tenths: int) -> str:
    for floor, letter in ((900, "A"), (800, "B"), (700, "C"), (600, "D")):
        if score_tenths >= floor:
            return letter
    return "F"


# Per score in tenths: its letter and the comments that fit it (looked up once per mark).
_LETTERS = tuple(_letter(n) for n in range(1001))
_COMMENTS_FOR = tuple(
    tuple(text for floor, text in MARK_COMMENTS if n >= floor * 10) for n in range(1001)
)
# Offsets from midnight, one per minute of the day.
_MINUTES = tuple(timedelta(minutes=n) for n in range(24 * 60))


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` into integers proportional to `weights` (largest remainder method)."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _section_sizes(n: int, target: int = SECTION_TARGET) -> list[int]:
    """Near-equal sections of about `target` students, never more than SECTION_MAX."""
    if n == 0:
        return []
    k = max(1, round(n / target))
    k = max(k, math.ceil(n / SECTION_MAX))
    return _apportion(n, [1.0] * k)


class _Random(random.Random):
    """`random.Random` with cheaper `randint`, `randrange` and `choice` for the hot loops.

    They draw exactly as CPython's do (rejection sampling on `getrandbits`), without the layers
    of calls and argument checks that cost more than the draw itself.
    """

    def _below(self, n: int) -> int:
        if n <= 0:
            raise ValueError(f"no integer in an empty range ({n})")
        getrandbits = self.getrandbits
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    def randint(self, a: int, b: int) -> int:
        return a + self._below(b - a + 1)

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None or step != 1:
            return super().randrange(start, stop, step)
        return start + self._below(stop - start)

    def choice(self, seq: SupportsLenAndGetItem[_T]) -> _T:
        return seq[self._below(len(seq))]


class _Generator:
    """Builds both districts in memory, then hands out rows table by table.

    Constructing it builds the model (schools, people, classes: the small tables); the large
    tables (enrollments, marks, portfolios, readiness, activity) are made by `rows()` when the
    loader asks for them, so they need not all be in memory at once.
    """

    def __init__(self, *, students: int, seed: int, today: date) -> None:
        self.rng = _Random(seed)
        self.today = today
        self.calendar = _calendar(today)
        self.midnights: dict[date, datetime] = {}
        self.midnight_runs: dict[tuple[date, int], tuple[datetime, ...]] = {}
        # Midnight n days before today, for n back to before the oldest portfolio (grade 12
        # students opened theirs six years ago).
        oldest = date(self.calendar.school_year - 8, 1, 1)
        self.midnight_ago = [
            self._midnight(today - timedelta(days=n)) for n in range((today - oldest).days + 1)
        ]
        self.names = _NamePools.build(seed)
        # Demo accounts share one hash of the published password. Its salt is derived from the
        # seed so that the whole data set, hashes included, is reproducible; real accounts get
        # random salts from app.auth.hash_password.
        salt = hashlib.sha256(f"schoolgraph demo {seed}".encode()).digest()[:16]
        self.demo_hash = PasswordHasher().hash(DEMO_PASSWORD, salt=salt)
        self.next_id: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.tables: dict[str, list[Row]] = {name: [] for name in TABLES}
        self.usernames_demo = frozenset(account.username for account in DEMO_ACCOUNTS)
        self.usernames: set[str] = set(self.usernames_demo)
        # Everyone's account was created by the roster import two weeks before the last term.
        self.imported_at = self._at(self.calendar.previous.starts_on - timedelta(days=14), 6 * 60)
        self.teacher_pools: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        self.demo_ids: dict[str, int] = {}  # demo username -> user id
        self.demo_student: _Student | None = None
        self.demo_family: _Household | None = None
        self.dropped: dict[int, set[int]] = {}  # class id -> students who dropped it this term
        self.districts = [self._district(spec) for spec in _district_specs(students)]

    def _id(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table]

    def _midnight(self, day: date) -> datetime:
        midnight = self.midnights.get(day)
        if midnight is None:
            midnight = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
            self.midnights[day] = midnight
        return midnight

    def _at(self, day: date, minute: int) -> datetime:
        """`minute` (0-1439) minutes into `day`, local time."""
        return self._midnight(day) + _MINUTES[minute]

    def _pick(self, options: Sequence[tuple[str, float]]) -> str:
        r = self.rng.random()
        for value, share in options:
            r -= share
            if r < 0:
                return value
        return options[-1][0]

    # --- districts, schools, terms ------------------------------------------------------------

    def _district(self, spec: _DistrictSpec) -> _District:
        district = _District(spec)
        self.tables["district"].append((spec.id, spec.name, 10))
        self.next_id["district"] = spec.id
        for dates in self.calendar.terms:
            term = _Term(self._id("term"), spec.id, dates)
            self.tables["term"].append(
                (term.id, spec.id, dates.name, dates.starts_on, dates.ends_on)
            )
            district.terms[dates.name] = term
        district.terms["current"] = district.terms[self.calendar.current.name]
        district.terms["previous"] = district.terms[self.calendar.previous.name]
        self._district_staff(district)
        self._schools(district)
        self._students(district)
        self._households(district)
        for school in district.schools:
            self._school_staff(district, school)
        self._classes(district)
        if spec.demo:
            self._demo_people(district)
        self._name_people(district)
        return district

    def _plan_schools(self, spec: _DistrictSpec) -> list[tuple[str, int]]:
        """(level, students) per school; high schools first, so school A is the first."""
        share = {level: len(grades) / 13 for level, grades in LEVEL_GRADES.items()}
        plan: list[tuple[str, float]] = []
        for level in (HIGH, MIDDLE, ELEMENTARY):
            count = round(spec.students * share[level] / LEVEL_SCHOOL_SIZE[level])
            count = max(count, 2 if (level == HIGH and spec.demo) else 1)
            # Campuses of one level differ in size by up to 15% either way.
            plan += [
                (level, share[level] / count * self.rng.uniform(0.85, 1.15)) for _ in range(count)
            ]
        sizes = _apportion(spec.students, [w for _, w in plan])
        if spec.demo and sizes[0] < DEMO_SCHOOL_MIN:
            # A small demo district still needs a school A that fits the teacher's story.
            sizes = [DEMO_SCHOOL_MIN, *_apportion(spec.students - DEMO_SCHOOL_MIN,
                                                  [w for _, w in plan[1:]])]  # fmt: skip
        return [(level, size) for (level, _), size in zip(plan, sizes, strict=True)]

    def _schools(self, district: _District) -> None:
        spec = district.spec
        pools = {"places": list(PLACE_NAMES), "people": list(NAMESAKES)}
        for pool in pools.values():
            self.rng.shuffle(pool)
        taken = {SCHOOL_A_NAME, SCHOOL_B_NAME}
        per_level: dict[str, int] = {}
        for level, size in self._plan_schools(spec):
            per_level[level] = per_level.get(level, 0) + 1
            index = per_level[level]
            if spec.demo and level == HIGH and index <= 2:
                name = (SCHOOL_A_NAME, SCHOOL_B_NAME)[index - 1]
            else:
                name = self._school_name(level, pools, taken)
            grades = LEVEL_GRADES[level]
            weights = [GRADE_WEIGHTS.get(g, 1.0) * self.rng.uniform(0.95, 1.05) for g in grades]
            school = _School(
                id=self._id("school"),
                district_id=spec.id,
                name=name,
                code=f"{level[0].upper()}{index:03d}",
                level=level,
                grade_sizes=dict(zip(grades, _apportion(size, weights), strict=True)),
            )
            district.schools.append(school)
            self.tables["school"].append((school.id, spec.id, name, school.code, level))

    def _school_name(self, level: str, pools: dict[str, list[str]], taken: set[str]) -> str:
        # Elementary schools are mostly named after places, secondary schools after people.
        order = ("places", "people") if level == ELEMENTARY else ("people", "places")
        for key in order:
            while pools[key]:
                name = f"{pools[key].pop()} {LEVEL_SUFFIX[level]}"
                if name not in taken:
                    taken.add(name)
                    return name
        while True:  # large districts run out of both lists: name schools after local families
            name = f"{self.rng.choice(self.names.last['en_US'])} {LEVEL_SUFFIX[level]}"
            if name not in taken:
                taken.add(name)
                return name

    # --- people -------------------------------------------------------------------------------

    def _user(
        self,
        district_id: int,
        username: str,
        first: str,
        last: str,
        *,
        email: str | None = None,
        phone: str | None = None,
    ) -> int:
        user_id = self._id("app_user")
        # Row user_id - 1 of the list: `_make_demo` finds and rewrites rows by that index.
        self.tables["app_user"].append(
            (user_id, district_id, username, email, first, last, phone, None, self.imported_at)
        )
        if username in self.usernames_demo:
            self._make_demo(user_id, username)
        return user_id

    def _role(self, district: _District, user_id: int, role: str, school_id: int | None) -> None:
        granted_by = district.admin_id or None  # the district admin's own role has no grantor
        self.tables["role_assignment"].append(
            (self._id("role_assignment"), district.spec.id, user_id, role, school_id, granted_by,
             self.imported_at)
        )  # fmt: skip

    def _person(self, gender: str, ethnicity: str | None = None) -> tuple[str, str]:
        """A (first, last) name plausible for the gender and ethnicity."""
        rng = self.rng
        if ethnicity is None:
            ethnicity = self._pick(((WHITE, 0.55), (HISPANIC, 0.3), (BLACK, 0.1), (ASIAN, 0.05)))
        if gender == "nonbinary":
            gender = rng.choice(("female", "male"))
            if rng.random() < 0.5:
                return rng.choice(UNISEX_GIVEN), self._last_name(ethnicity)
        if ethnicity == HISPANIC and rng.random() < 0.6:
            first = rng.choice(self.names.first["es_MX", gender])
        elif ethnicity == ASIAN and rng.random() < 0.3:
            first = rng.choice(ASIAN_GIVEN[gender])
        else:
            first = rng.choice(self.names.first["en_US", gender])
        return first, self._last_name(ethnicity)

    def _last_name(self, ethnicity: str) -> str:
        rng = self.rng
        if ethnicity == HISPANIC and rng.random() < 0.85:
            return rng.choice(self.names.last["es_MX"])
        if ethnicity == ASIAN and rng.random() < 0.75:
            return rng.choice(ASIAN_SURNAMES)
        return rng.choice(self.names.last["en_US"])

    def _phone(self, spec: _DistrictSpec) -> str:
        rng = self.rng
        return f"({rng.choice(spec.area_codes)}) {rng.randint(201, 989)}-{rng.randrange(10000):04d}"

    def _staff(
        self, district: _District, role: str, school_id: int | None, username: str | None = None
    ) -> int:
        """A staff member with one role; `username` names a demo account."""
        spec = district.spec
        gender = "female" if self.rng.random() < 0.72 else "male"
        first, last = self._person(gender)
        if username is None:
            base = f"{_slug(first)}.{_slug(last)}"
            username, n = base, 1
            while username in self.usernames:
                n += 1
                username = f"{base}{n}"
            self.usernames.add(username)
        phone = self._phone(spec) if self.rng.random() < 0.7 else None
        user_id = self._user(
            spec.id, username, first, last, email=f"{username}@{spec.domain}", phone=phone
        )
        self._role(district, user_id, role, school_id)
        return user_id

    def _district_staff(self, district: _District) -> None:
        """The district office; the demo district's accounts are `admin`, `reporter`, `support`."""
        demo = district.spec.demo
        district.admin_id = self._staff(
            district, Role.DISTRICT_ADMIN, None, "admin" if demo else None
        )
        if demo:
            self._staff(district, Role.REPORTING, None, "reporter")
            self._staff(district, Role.SUPPORT, None, "support")

    def _school_staff(self, district: _District, school: _School) -> None:
        """Principal (and an assistant principal at big campuses) and counselors/coordinators.

        At school A the first of each are the demo `principal` and `coordinator`, and the demo
        `designee` works there too.
        """
        demo = district.spec.demo and school.name == SCHOOL_A_NAME
        for n in range(1 if school.size < 600 else 2):
            username = "principal" if demo and n == 0 else None
            self._staff(district, Role.SCHOOL_ADMIN, school.id, username)
        for n in range(max(1, round(school.size / 450))):
            username = "coordinator" if demo and n == 0 else None
            self._staff(district, Role.COORDINATOR, school.id, username)
        if demo:
            self._staff(district, Role.DESIGNEE, school.id, "designee")

    def _birth_date(self, grade: int) -> date:
        """On time, a student is `grade + 5` on Sep 1; a few were held back or started early."""
        age = grade + 5
        r = self.rng.random()
        if grade > 0 and r < 0.035:
            age += 1
        elif r > 0.99:
            age -= 1
        first = date(self.calendar.school_year - age - 1, 9, 2)
        return first + timedelta(days=self.rng.randrange(365))

    def _students(self, district: _District) -> None:
        """Student records and their user accounts; names come later, per family."""
        spec, rng = district.spec, self.rng
        total = sum(s.size for s in district.schools)
        numbers = list(range(100001, 100001 + total))
        rng.shuffle(numbers)  # student numbers are assigned at registration, not by school
        for school in district.schools:
            for grade, count in school.grade_sizes.items():
                for _ in range(count):
                    r = rng.random()
                    gender = "female" if r < 0.488 else "male" if r < 0.985 else "nonbinary"
                    student = _Student(
                        id=self._id("student"),
                        district_id=spec.id,
                        school=school,
                        grade=grade,
                        born=self._birth_date(grade),
                        gender=gender,
                        user_id=0,
                        ability=rng.gauss(0.0, 1.0),
                        number=str(numbers[len(district.students)]),
                    )
                    school.students.append(student)
                    district.students.append(student)

    def _households(self, district: _District) -> None:
        """Group students into families of 1-4 children (siblings usually in other schools)."""
        order = list(district.students)
        self.rng.shuffle(order)
        i = 0
        while i < len(order):
            r = self.rng.random()
            size = 1 if r < 0.6 else 2 if r < 0.88 else 3 if r < 0.97 else 4
            household = _Household(children=order[i : i + size])
            for child in household.children:
                child.household = household
            district.households.append(household)
            i += size

    # --- classes ------------------------------------------------------------------------------

    def _classes(self, district: _District) -> None:
        """Sections, rosters and teachers for the current term, then the previous one."""
        current, previous = district.terms["current"], district.terms["previous"]
        # Last term's grade: one lower if it was in the previous school year.
        shift = current.dates.school_year - previous.dates.school_year
        schools_by_level: dict[str, list[_School]] = {}
        for school in district.schools:
            schools_by_level.setdefault(school.level, []).append(school)
        for term, grade_shift in ((current, 0), (previous, shift)):
            rosters: dict[int, list[tuple[_Student, int]]] = {s.id: [] for s in district.schools}
            for school in district.schools:
                for student in school.students:
                    grade = student.grade - grade_shift
                    if grade < 0:
                        continue  # this year's kindergarteners were not at school last year
                    rosters[self._school_for(student.school, grade, schools_by_level).id].append(
                        (student, grade)
                    )
            for school in district.schools:
                demo_sizes = None
                if district.spec.demo and term is current and school.name == SCHOOL_A_NAME:
                    demo_sizes = _apportion(self.rng.randint(112, 118), [1.0] * 5)
                sections = self._school_sections(district, school, term, rosters[school.id],
                                                 demo_sizes)  # fmt: skip
                self._assign_teachers(district, school, sections, demo=demo_sizes is not None)
                district.sections += sections

    def _school_for(
        self, school: _School, grade: int, by_level: dict[str, list[_School]]
    ) -> _School:
        """Where a student attended `grade`: their own school, or a feeder school of that level."""
        if grade in LEVEL_GRADES[school.level]:
            return school
        level = next(lv for lv, grades in LEVEL_GRADES.items() if grade in grades)
        feeders = by_level[level]
        return feeders[school.id % len(feeders)]

    def _new_section(
        self,
        district: _District,
        school: _School,
        term: _Term,
        course: tuple[str, str, str],  # subject, title, code
        number: int,
        members: list[tuple[_Student, int]],
        department: tuple[str, ...],
        *,
        elective: bool,
    ) -> _Section:
        subject, title, code = course
        public_share = 0.25 if elective else 0.05
        return _Section(
            id=self._id("class_section"),
            district_id=district.spec.id,
            school=school,
            term=term,
            title=title,
            code=f"{code}-{number:02d}",
            subject=subject,
            department=department,
            grade_levels=sorted({grade for _, grade in members}),
            visibility=(
                ClassVisibility.PUBLIC.value
                if self.rng.random() < public_share
                else ClassVisibility.PRIVATE.value
            ),
            students=[student for student, _ in members],
            elective=elective,
        )

    def _school_sections(
        self,
        district: _District,
        school: _School,
        term: _Term,
        roster: list[tuple[_Student, int]],
        demo_sizes: list[int] | None,
    ) -> list[_Section]:
        if school.level == ELEMENTARY:
            return self._homeroom_sections(district, school, term, roster)
        rng = self.rng
        sections: list[_Section] = []
        by_grade: dict[int, list[tuple[_Student, int]]] = {}
        for member in roster:
            by_grade.setdefault(member[1], []).append(member)
        grades = sorted(by_grade)
        first_grade = LEVEL_GRADES[school.level][0]
        for subject, courses in CORE_COURSES[school.level].items():
            # Each subject shuffles students anew (different classmates per period); sections
            # follow grade order, so most hold one grade and a few straddle two.
            ordered: list[tuple[_Student, int]] = []
            for grade in grades:
                members = list(by_grade[grade])
                rng.shuffle(members)
                ordered += members
            if demo_sizes and subject == DEMO_SUBJECT:
                sizes = demo_sizes + _section_sizes(len(ordered) - sum(demo_sizes))
            else:
                sizes = _section_sizes(len(ordered))
            start, numbers = 0, dict[str, int]()
            for size in sizes:
                members = ordered[start : start + size]
                start += size
                grades_in = [grade for _, grade in members]
                majority = max(set(grades_in), key=lambda g: (grades_in.count(g), -g))
                title, code = courses[majority - first_grade]
                numbers[code] = numbers.get(code, 0) + 1
                sections.append(
                    self._new_section(district, school, term, (subject, title, code),
                                      numbers[code], members, (subject,), elective=False)
                )  # fmt: skip
        sections += self._elective_sections(district, school, term, roster, grades)
        return sections

    def _elective_sections(
        self,
        district: _District,
        school: _School,
        term: _Term,
        roster: list[tuple[_Student, int]],
        grades: list[int],
    ) -> list[_Section]:
        rng = self.rng
        catalog = ELECTIVES[school.level]
        ballot = [i for i, (*_, weight) in enumerate(catalog) for _ in range(weight)]
        takers: list[list[tuple[_Student, int]]] = [[] for _ in catalog]
        for member in roster:
            first = rng.choice(ballot)
            second = rng.choice(ballot)
            while second == first:
                second = rng.choice(ballot)
            takers[first].append(member)
            takers[second].append(member)
        sections = []
        for (subject, title, code), members in zip(
            ((s, t, c) for s, t, c, _ in catalog), takers, strict=True
        ):
            members.sort(key=lambda m: m[1])  # by grade: upper-level sections fill last
            start = 0
            for number, size in enumerate(_section_sizes(len(members)), start=1):
                sections.append(
                    self._new_section(district, school, term, (subject, title, code), number,
                                      members[start : start + size], (subject,), elective=True)
                )  # fmt: skip
                start += size
        return sections

    def _homeroom_sections(
        self, district: _District, school: _School, term: _Term, roster: list[tuple[_Student, int]]
    ) -> list[_Section]:
        """Homerooms of ~22: four core classes with one teacher, then fine arts and PE."""
        by_grade: dict[int, list[tuple[_Student, int]]] = {}
        for member in roster:
            by_grade.setdefault(member[1], []).append(member)
        sections = []
        for grade in sorted(by_grade):
            members = by_grade[grade]
            self.rng.shuffle(members)
            label = "Kindergarten" if grade == 0 else f"Grade {grade}"
            tag = "K" if grade == 0 else str(grade)
            start = 0
            for room, size in enumerate(_section_sizes(len(members), HOMEROOM_TARGET), start=1):
                homeroom = members[start : start + size]
                start += size
                for subject, code in HOMEROOM_SUBJECTS:
                    course = (subject, f"{label} {subject}", f"{tag}-{code}")
                    sections.append(
                        self._new_section(district, school, term, course, room, homeroom,
                                          ("homeroom", str(grade), str(room)), elective=False)
                    )  # fmt: skip
                for subject, code in SPECIALS:
                    course = (subject, f"{label} {subject}", f"{tag}-{code}")
                    sections.append(
                        self._new_section(district, school, term, course, room, homeroom,
                                          (subject,), elective=False)
                    )  # fmt: skip
        return sections

    def _assign_teachers(
        self, district: _District, school: _School, sections: list[_Section], *, demo: bool
    ) -> None:
        """Each department's sections are split evenly over as few teachers as keeps loads <= 6.

        Teachers are kept per (school, department) so last term's sections go to the same
        people; a homeroom is one teacher's whole load.
        """
        departments: dict[tuple[str, ...], list[_Section]] = {}
        for section in sections:
            key = (
                section.department[:2]
                if section.department[0] == "homeroom"
                else section.department
            )
            departments.setdefault(key, []).append(section)
        for key, dept_sections in departments.items():
            pool = self.teacher_pools.setdefault((school.id, key), [])
            if demo and key == (DEMO_SUBJECT,):
                # The demo teacher's five sections are the first five of the subject.
                teacher = self._staff(district, Role.TEACHER, school.id, "teacher")
                for section in dept_sections[:5]:
                    section.teacher_id = teacher
                self._deal(district, school, pool, dept_sections[5:], CLASSES_PER_TEACHER)
                pool.insert(0, teacher)
            elif key[0] == "homeroom":
                bundles = [s for s in dept_sections if s.subject == HOMEROOM_SUBJECTS[0][0]]
                self._deal(district, school, pool, bundles, 1)
                by_room = {s.department: s.teacher_id for s in bundles}
                for section in dept_sections:
                    section.teacher_id = by_room[section.department]
            else:
                self._deal(district, school, pool, dept_sections, CLASSES_PER_TEACHER)

    def _deal(
        self,
        district: _District,
        school: _School,
        pool: list[int],
        sections: list[_Section],
        per_teacher: int,
    ) -> None:
        if not sections:
            return
        needed = math.ceil(len(sections) / per_teacher)
        while len(pool) < needed:
            pool.append(self._staff(district, Role.TEACHER, school.id))
        start = 0
        for teacher, load in zip(pool, _apportion(len(sections), [1.0] * needed), strict=False):
            for section in sections[start : start + load]:
                section.teacher_id = teacher
            start += load

    # --- the demo accounts' family ------------------------------------------------------------

    def _demo_people(self, district: _District) -> None:
        """Pick `student` from the demo teacher's classes and give them a sibling at school B."""
        school_b = district.schools[1]
        teacher = self.demo_ids["teacher"]
        taught = {st.id: st for s in district.sections if s.teacher_id == teacher
                  for st in s.students}  # fmt: skip
        current = district.terms["current"]
        candidates = [
            st for s in district.sections if s.teacher_id == teacher and s.term is current
            for st in s.students
            if st.grade in (9, 10) and 14 <= _age(st.born, self.today) <= 16
        ]  # fmt: skip
        student = self.rng.choice(sorted(set(candidates), key=lambda st: st.id))
        sibling = self.rng.choice(
            [st for st in school_b.students if st.grade != student.grade and st.id not in taught]
        )
        # The demo family is exactly these two children; brothers and sisters they had in the
        # random grouping stay behind as a family of their own.
        family = _Household(children=[student, sibling])
        for child in family.children:
            if child.household is not None:
                child.household.children.remove(child)
            child.household = family
        district.households = [h for h in district.households if h.children] + [family]
        self.demo_student, self.demo_family = student, family

    # --- names, guardians, student accounts ---------------------------------------------------

    def _name_people(self, district: _District) -> None:
        spec, rng = district.spec, self.rng
        weights = list(spec.ethnicity_weights)
        for household in district.households:
            ethnicity = rng.choices(ETHNICITIES, weights)[0]
            family_name = self._last_name(ethnicity)
            born: dict[int, date] = {}
            for child in household.children:
                child.ethnicity = ethnicity
                child.first = self._person(child.gender, ethnicity)[0]
                child.last = family_name
                # Two children in one grade are twins.
                child.born = born.setdefault(child.grade, child.born)
            self._guardians(district, household, ethnicity, family_name)
        for student in district.students:
            username = f"s{spec.id}-{student.number}"
            email = f"{_slug(student.first)}.{_slug(student.last)}{student.number[-3:]}"
            if student is self.demo_student:
                username = "student"
            student.email = f"{email}@students.{spec.domain}"
            student.user_id = self._user(
                spec.id, username, student.first, student.last, email=student.email
            )
            self._role(district, student.user_id, Role.STUDENT, student.school.id)

    def _guardians(
        self, district: _District, household: _Household, ethnicity: str, family_name: str
    ) -> None:
        """One or two guardians; the first always has data access (and gives consents)."""
        spec, rng = district.spec, self.rng
        demo = household is self.demo_family
        count = 2 if demo or rng.random() < 0.7 else 1
        first_gender = "female" if rng.random() < 0.7 else "male"
        for n in range(count):
            gender = first_gender if n == 0 else ("male" if first_gender == "female" else "female")
            if n == 1 and rng.random() < 0.08:
                gender = first_gender  # two mothers or two fathers
            first, last = self._person(gender, ethnicity)
            if rng.random() < 0.85:
                last = family_name
            relationship = "parent"
            r = rng.random()
            if not demo and r < 0.06:
                relationship = "guardian"
            elif not demo and r < 0.1:
                relationship = "relative"  # a grandparent or aunt who helps out
            legal = relationship != "relative" or n == 0  # a relative raising the child is legal
            # A custody restriction: the link is kept but discloses nothing.
            data_access = n == 0 or demo or rng.random() > 0.04
            number = self.next_id["app_user"] + 1
            username = "guardian" if demo and n == 0 else f"g{spec.id}-{number:06d}"
            email = None
            if rng.random() < 0.88:
                mailbox = f"{_slug(first)}.{_slug(last)}{number % 1000}"
                email = f"{mailbox}@{rng.choice(GUARDIAN_EMAIL_DOMAINS)}"
            phone = self._phone(spec) if rng.random() < 0.96 else None
            user_id = self._user(spec.id, username, first, last, email=email, phone=phone)
            self._role(district, user_id, Role.GUARDIAN, None)
            household.guardians.append(_Guardian(user_id, relationship, legal, data_access))

    def _make_demo(self, user_id: int, username: str) -> None:
        """A demo account: its fixed username and the shared hash of the demo password."""
        users = self.tables["app_user"]
        row = users[user_id - 1]
        users[user_id - 1] = (*row[:7], self.demo_hash, row[8])
        self.demo_ids[username] = user_id

    # --- rows ---------------------------------------------------------------------------------

    def rows(self) -> Iterator[_Chunk]:
        """Every table's rows, in load order; the large tables are built when asked for and
        handed out in chunks of about `CHUNK_ROWS` rows."""
        self._student_rows()
        self._class_rows()
        early = ("district", "school", "term", "app_user", "role_assignment", "student",
                 "guardian_link", "consent", "class_section", "teaching_assignment")  # fmt: skip
        for table in early:
            yield _Chunk(table, self._take(table), last=True)
        yield from self._chunks(("enrollment",), self._enrollment_rows())
        yield from self._chunks(("mark",), self._mark_rows())
        yield from self._chunks(
            ("portfolio", "portfolio_item", "activity_event"), self._portfolio_rows()
        )
        yield from self._chunks(("readiness_indicator",), self._readiness_rows())

    def _chunks(self, tables: tuple[str, ...], steps: Iterator[None]) -> Iterator[_Chunk]:
        """Runs a builder that pauses now and then, handing out its tables' rows in chunks."""
        for _ in steps:
            if sum(len(self.tables[table]) for table in tables) >= CHUNK_ROWS:
                for table in tables:
                    yield _Chunk(table, self._take(table), last=False)
        for table in tables:
            yield _Chunk(table, self._take(table), last=True)

    def _take(self, table: str) -> list[Row]:
        rows, self.tables[table] = self.tables[table], []
        return rows

    def _student_rows(self) -> None:
        rng = self.rng
        for district in self.districts:
            spec = district.spec
            for st in district.students:
                household = st.household
                if household is None:
                    raise SeedError(f"student {st.id} was not placed in a household")
                age = _age(st.born, self.today)
                preferred = None
                if rng.random() < (0.3 if st.gender == "nonbinary" else 0.1):
                    preferred = NICKNAMES.get(st.first) or self._person(st.gender)[0]
                # COPPA: a consent is on file for most students (under 13: ~90%).
                coppa = rng.random() < (0.9 if age < 13 else 0.96)
                if spec.demo and st is self.demo_student:
                    coppa = True
                phone = self._phone(spec) if st.grade >= 6 and rng.random() < 0.75 else None
                self.tables["student"].append(
                    (st.id, spec.id, st.school.id, st.user_id, st.number, st.first, st.last,
                     preferred, st.grade, st.born, st.gender, st.ethnicity, st.email, phone,
                     "active", rng.random() < 0.03, coppa)
                )  # fmt: skip
                registered = date(self.calendar.school_year - st.grade, 4, 1) + timedelta(
                    days=rng.randrange(30)
                )
                for guardian in household.guardians:
                    self.tables["guardian_link"].append(
                        (self._id("guardian_link"), spec.id, guardian.user_id, st.id,
                         guardian.relationship, guardian.legal, guardian.data_access, registered,
                         None)
                    )  # fmt: skip
                if coppa:
                    self.tables["consent"].append(
                        (self._id("consent"), spec.id, st.id, ConsentKind.COPPA_COLLECTION.value,
                         True, household.guardians[0].user_id,
                         self._at(registered, rng.randrange(9 * 60, 18 * 60)))
                    )  # fmt: skip

    def _class_rows(self) -> None:
        for district in self.districts:
            current = district.terms["current"]
            for s in district.sections:
                self.tables["class_section"].append(
                    (s.id, s.district_id, s.school.id, s.term.id, s.title, s.code, s.subject,
                     s.grade_levels, s.visibility)
                )  # fmt: skip
                starts, ends = self._term_span(s.term, current)
                self.tables["teaching_assignment"].append(
                    (self._id("teaching_assignment"), s.district_id, s.id, s.teacher_id, starts,
                     ends)
                )  # fmt: skip

    def _term_span(self, term: _Term, current: _Term) -> tuple[date, date | None]:
        """Current-term links are open and active today, even before the term's first day."""
        if term is current:
            return min(term.dates.starts_on, self.today), None
        return term.dates.starts_on, term.dates.ends_on

    def _enrollment_rows(self) -> Iterator[None]:
        rng, today = self.rng, self.today
        self.dropped.clear()
        next_id = self.next_id["enrollment"]
        for district in self.districts:
            current = district.terms["current"]
            for s in district.sections:
                yield  # a chunk may be handed out here
                rows = self.tables["enrollment"]
                starts, ends = self._term_span(s.term, current)
                # A few students dropped an elective early in the current term: history.
                may_drop = s.term is current and s.elective and (today - starts).days > 10
                for st in s.students:
                    next_id += 1
                    if may_drop and rng.random() < 0.02:
                        dropped = starts + timedelta(days=rng.randint(3, (today - starts).days - 1))
                        rows.append((next_id, s.district_id, s.id, st.id, starts, dropped))
                        self.dropped.setdefault(s.id, set()).add(st.id)
                    else:
                        rows.append((next_id, s.district_id, s.id, st.id, starts, ends))
        self.next_id["enrollment"] = next_id

    def _mark_rows(self) -> Iterator[None]:
        """Final marks for last term; progress marks in most current classes (all of the demo
        teacher's)."""
        rng, today = self.rng, self.today
        next_id = self.next_id["mark"]
        demo_teacher = self.demo_ids.get("teacher")
        gauss, random_ = rng.gauss, rng.random
        no_one: frozenset[int] = frozenset()
        for district in self.districts:
            current = district.terms["current"]
            for s in district.sections:
                yield  # a chunk may be handed out here
                append = self.tables["mark"].append
                if s.term is current:
                    if s.teacher_id != demo_teacher and random_() < 0.15:
                        continue
                    first = min(s.term.dates.starts_on, today)
                    span = max(0, (today - first).days - 1)
                else:
                    first, span = s.term.dates.ends_on, 0
                days = self._midnights_from(first, span + 1)
                course_difficulty = gauss(0.0, 2.0)
                dropped = self.dropped.get(s.id, no_one)
                district_id, class_id, term_id, teacher_id = (
                    s.district_id, s.id, s.term.id, s.teacher_id
                )  # fmt: skip
                for st in s.students:
                    if st.id in dropped:
                        continue
                    tenths = round((82.0 + 8.0 * st.ability - course_difficulty + gauss(0, 5)) * 10)
                    if tenths > 1000:
                        tenths = 1000
                    elif tenths < 500:
                        tenths = 500
                    comment = None
                    if random_() < 0.12:
                        fitting = _COMMENTS_FOR[tenths]
                        comment = fitting[int(random_() * len(fitting))]
                    day = days[int(random_() * (span + 1))]
                    next_id += 1
                    append(
                        (next_id, district_id, st.id, class_id, term_id, _SCORES[tenths],
                         _LETTERS[tenths], comment, teacher_id,
                         day + _MINUTES[15 * 60 + int(random_() * 180)])
                    )  # fmt: skip
        self.next_id["mark"] = next_id

    def _midnights_from(self, first: date, days: int) -> tuple[datetime, ...]:
        """Midnight of `first` and of the days after it (cached: sections share their term's)."""
        key = (first, days)
        found = self.midnight_runs.get(key)
        if found is None:
            found = tuple(self._midnight(first + timedelta(days=n)) for n in range(days))
            self.midnight_runs[key] = found
        return found

    def _portfolio_rows(self) -> Iterator[None]:
        """Portfolios for grades 6+, with items and the activity (logins, edits) of 12 weeks."""
        rng, today = self.rng, self.today
        random_, randint, randrange, choice = rng.random, rng.randint, rng.randrange, rng.choice
        window = ACTIVITY_DAYS
        ago = self.midnight_ago
        weekend = [day.weekday() >= 5 for day in ago[: window + 1]]
        by_time = operator.itemgetter(1)
        for district in self.districts:
            spec = district.spec
            for st in district.students:
                yield  # a chunk may be handed out here
                if st.grade < 6:
                    continue
                # The portfolio was opened when the student started middle school.
                opened = min(date(self.calendar.school_year - (st.grade - 6), 9, 1),
                             today - timedelta(days=7))  # fmt: skip
                max_age = (today - opened).days
                portfolio_id = self._id("portfolio")
                headline = choice(HEADLINES) if random_() < 0.7 else None
                self.tables["portfolio"].append(
                    (portfolio_id, spec.id, st.id, headline, self._at(opened, 10 * 60))
                )
                events: list[tuple[str, datetime]] = []
                visibilities = None
                count = randint(2, 5)
                if spec.demo and st is self.demo_student:
                    count = 4  # the demo student shows every visibility
                    visibilities = [v for v, _ in ITEM_VISIBILITY] + [Visibility.TEACHERS.value]
                items = self.tables["portfolio_item"]
                for n in range(count):
                    kind, titles = self._item_kind(st.grade)
                    days_ago = (
                        randint(1, min(window, max_age))
                        if random_() < 0.55 or max_age <= window
                        else randint(window + 1, max_age)
                    )
                    created = ago[days_ago] + _MINUTES[randrange(7 * 60, 22 * 60)]
                    updated, updated_ago = created, days_ago
                    if random_() < 0.35 and days_ago > 1:
                        updated_ago = randint(1, days_ago - 1)
                        updated = ago[updated_ago] + _MINUTES[randrange(7 * 60, 22 * 60)]
                    if days_ago <= window:
                        events.append(("portfolio_item_created", created))
                    if updated is not created and updated_ago <= window:
                        events.append(("portfolio_item_updated", updated))
                    visibility = visibilities[n] if visibilities else self._pick(ITEM_VISIBILITY)
                    body = choice(PORTFOLIO_BODIES) if random_() < 0.85 else None
                    items.append(
                        (self._id("portfolio_item"), spec.id, portfolio_id, st.id, kind,
                         choice(titles), body, visibility, created, updated)
                    )  # fmt: skip
                # Logins: school days more than weekends, school hours and evenings.
                for _ in range(max(2, randint(8, 12) - len(events))):
                    n = randint(1, window)
                    if weekend[n] and random_() < 0.6:
                        n = randint(1, window)  # one more draw
                    if random_() < 0.55:
                        minute = randrange(7 * 60 + 30, 15 * 60 + 30)
                    else:
                        minute = randrange(16 * 60, 22 * 60 + 30)
                    events.append(("login", ago[n] + _MINUTES[minute]))
                events.sort(key=by_time)
                activity = self.tables["activity_event"]
                next_id = self.next_id["activity_event"]
                for kind, at in events:
                    next_id += 1
                    activity.append(
                        (next_id, spec.id, st.user_id, st.id, st.school.id, kind, at)
                    )  # fmt: skip
                self.next_id["activity_event"] = next_id

    def _item_kind(self, grade: int) -> tuple[str, tuple[str, ...]]:
        r = self.rng.random()
        chosen = PORTFOLIO_KINDS[-1]
        for candidate in PORTFOLIO_KINDS:
            r -= candidate[1]
            if r < 0:
                chosen = candidate
                break
        if chosen[0] == "certification" and grade < 9:
            chosen = PORTFOLIO_KINDS[4]  # middle schoolers have artifacts instead
        return chosen[0], chosen[2]

    def _readiness_rows(self) -> Iterator[None]:
        """Texas CCMR indicators for juniors and seniors."""
        rng, today = self.rng, self.today
        for district in self.districts:
            for st in district.students:
                yield  # a chunk may be handed out here
                if st.grade < 11:
                    continue
                for indicator in self._indicators(st.grade):
                    name, category, met, value, source = indicator
                    achieved = today - timedelta(days=rng.randint(14, 365 * (st.grade - 10)))
                    self.tables["readiness_indicator"].append(
                        (self._id("readiness_indicator"), district.spec.id, st.id, name, category,
                         met, value, achieved, source)
                    )  # fmt: skip

    def _indicators(self, grade: int) -> Iterator[tuple[str, str, bool, str, str]]:
        rng = self.rng
        if rng.random() < 0.55:
            score = rng.randint(910, 990)  # TSIA2 ELAR: college ready at 945
            yield "tsi_reading", "college", score >= 945, f"TSIA2 ELAR {score}", "TEA CCMR"
        if rng.random() < 0.5:
            score = rng.randint(910, 990)  # TSIA2 mathematics: college ready at 950
            yield "tsi_math", "college", score >= 950, f"TSIA2 Math {score}", "TEA CCMR"
        if rng.random() < 0.3:
            if rng.random() < 0.15:
                exam, score = rng.choice(IB_EXAMS), rng.randint(2, 7)
                yield (
                    "ap_ib",
                    "college",
                    score >= 4,
                    f"{exam}: {score}",
                    "International Baccalaureate",
                )
            else:
                exam, score = rng.choice(AP_EXAMS), rng.randint(1, 5)
                yield "ap_ib", "college", score >= 3, f"{exam}: {score}", "College Board"
        if rng.random() < 0.22:
            hours = rng.choice((3, 6, 9, 12, 15))
            yield "dual_credit", "college", hours >= 9, f"{hours} semester credit hours", "TEA CCMR"
        if rng.random() < 0.15:
            cert = rng.choice(CERTIFICATIONS)
            passed = rng.random() < 0.85
            value = cert if passed else f"{cert} (exam not passed)"
            yield "industry_certification", "career", passed, value, "TEA CCMR"
        if grade == 12 and rng.random() < 0.06:
            enlisted = rng.random() < 0.75
            value = f"Enlisted: {rng.choice(MILITARY_BRANCHES)}" if enlisted else "ASVAB taken"
            yield "military", "military", enlisted, value, "TEA CCMR"


# --- Loading ------------------------------------------------------------------------------------


async def _check_empty(connection: asyncpg.Connection) -> None:
    """Refuse a database that holds a district; lock so that two seeds cannot interleave."""
    try:
        # SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with reads.
        await connection.execute("LOCK TABLE district IN SHARE ROW EXCLUSIVE MODE")
    except asyncpg.UndefinedTableError as exc:
        raise SeedError("the database has no schema yet: run `schoolgraph migrate` first") from exc
    districts = await connection.fetchval("SELECT count(*) FROM district")
    if districts:
        raise SeedError(
            f"the database already holds {districts} district(s); seed only an empty database"
            " (or run `schoolgraph seed --reset`)"
        )


class _Progress:
    """A rich progress display with one task per table, or nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.bar = (
            Progress(
                TextColumn("{task.description:<20}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            if enabled
            else None
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
            self.tasks["plan"] = self.bar.add_task("plan districts", total=1)
            for table in TABLES:
                self.tasks[table] = self.bar.add_task(table, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def total(self, name: str, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tasks[name], total=total)

    def advance(self, name: str, rows: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.tasks[name], rows)


class _Prefetch:
    """Runs the generator in a worker thread, at most `budget` rows ahead of the COPY.

    Python builds the next rows while PostgreSQL stores the previous ones. The thread shares
    the GIL with the event loop, but the loop mostly waits on the socket: encoding the COPY
    data is a small share of the Python work.
    """

    def __init__(self, produce: Callable[[], Iterator[_Chunk]], budget: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[_Chunk | BaseException | None] = asyncio.Queue()
        self._room = threading.Condition()
        self._ahead = 0  # rows handed out and not yet consumed
        self._budget = budget
        self._closed = False
        self._thread = threading.Thread(
            target=self._work, args=(produce,), name="seed-generator", daemon=True
        )
        self._thread.start()

    def _work(self, produce: Callable[[], Iterator[_Chunk]]) -> None:
        item: _Chunk | BaseException | None = None
        try:
            for chunk in produce():
                with self._room:
                    while self._ahead >= self._budget and not self._closed:
                        self._room.wait()
                    if self._closed:
                        return
                    self._ahead += len(chunk.rows)
                self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)
        except BaseException as exc:  # handed to the event loop, which raises it
            item = exc
        _log.debug("generator thread: %.2f s CPU", time.thread_time())
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    async def get(self) -> _Chunk | None:
        """The next chunk, or None when the generator is done."""
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def consumed(self, rows: int) -> None:
        with self._room:
            self._ahead -= rows
            self._room.notify()

    async def close(self) -> None:
        """Stop the generator (after the chunk it is building) and wait for the thread."""
        with self._room:
            self._closed = True
            self._room.notify()
        await asyncio.to_thread(self._thread.join)


@dataclass(frozen=True, slots=True)
class _ForeignKey:
    table: str
    references: str
    sql: str  # ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ...


class _Loader:
    """COPYs the generator's rows into the database inside the caller's transaction.

    Like pg_restore, it loads bare tables and builds their indexes and checks their foreign
    keys afterwards: a sorted index build and one join per foreign key cost far less than
    updating indexes and checking references row by row. Primary keys stay (other tables'
    foreign keys need them; ids arrive in order, so they append cheaply). Each table gets its
    indexes, statistics and foreign keys as soon as it and the tables it references are
    complete, while the worker thread is still generating later tables.
    """

    CHUNK = 50_000  # rows per COPY call: keeps the progress bar moving
    PREFETCH_ROWS = 1_000_000  # how far the generator may run ahead of the COPY

    def __init__(self, connection: asyncpg.Connection, progress: _Progress, ring: Keyring) -> None:
        self.connection = connection
        self.progress = progress
        self.ring = ring
        self.counts: dict[str, int] = {}
        self.complete: set[str] = set()
        self.indexes: dict[str, list[str]] = {}  # table -> statements that rebuild its indexes
        self.foreign_keys: list[_ForeignKey] = []  # not restored yet

    async def run(self, make: Callable[[], _Generator]) -> dict[str, int]:
        # Bulk-load settings for this transaction only: sorts for index builds and hash joins
        # for foreign-key checks in memory, and no wait for the WAL flush at commit.
        await self.connection.execute(
            "SET LOCAL maintenance_work_mem = '256MB'; SET LOCAL work_mem = '64MB';"
            " SET LOCAL synchronous_commit = off"
        )
        started = time.perf_counter()
        feed = _Prefetch(lambda: _sealed(make().rows(), self.ring), self.PREFETCH_ROWS)
        try:
            await self._drop_foreign_keys()
            await self._drop_indexes()
            planned = False
            while (chunk := await feed.get()) is not None:
                if not planned:
                    planned = True
                    _log.debug("plan: %.2f s", time.perf_counter() - started)
                    self.progress.total("plan", 1)
                    self.progress.advance("plan", 1)
                await self._copy(chunk.table, chunk.rows)
                feed.consumed(len(chunk.rows))
                if chunk.last:
                    await self._complete(chunk.table)
        finally:
            await feed.close()
        await self._advance_sequences()
        return self.counts

    async def _advance_sequences(self) -> None:
        """Ids were assigned here: move each sequence past them for later inserts.

        Last, because setval is not transactional: a load that fails leaves them alone. (An
        empty table's max is NULL, and setval leaves its sequence alone too.)
        """
        for table in TABLES:
            await self.connection.execute(
                f"SELECT setval(pg_get_serial_sequence($1, 'id'), max(id)) FROM {_quote(table)}",  # noqa: S608 (one of TABLES)
                table,
            )

    async def _copy(self, table: str, rows: list[Row]) -> None:
        copied = self.counts.get(table, 0)
        self.counts[table] = copied + len(rows)
        self.progress.total(table, copied + len(rows))
        if not rows:
            return
        started = time.perf_counter()
        for start in range(0, len(rows), self.CHUNK):
            chunk = rows[start : start + self.CHUNK]
            await self.connection.copy_records_to_table(table, records=chunk, columns=TABLES[table])
            self.progress.advance(table, len(chunk))
        _log.debug("copy %s: %d rows, %.2f s", table, len(rows), time.perf_counter() - started)

    async def _complete(self, table: str) -> None:
        """The table holds all its rows: indexes, statistics, then foreign keys."""
        started = time.perf_counter()
        self.complete.add(table)
        for statement in self.indexes.pop(table, []):
            await self.connection.execute(statement)
        await self.connection.execute(f"ANALYZE {_quote(table)}")
        ready = [
            fk
            for fk in self.foreign_keys
            if fk.table in self.complete
            and (fk.references in self.complete or fk.references not in TABLES)
        ]
        for fk in ready:
            await self.connection.execute(fk.sql)
            self.foreign_keys.remove(fk)
        _log.debug("complete %s: %.2f s", table, time.perf_counter() - started)

    async def _drop_foreign_keys(self) -> None:
        """Foreign keys of the seeded tables, dropped for the load and restored after it.

        It all happens inside the seed's transaction: other sessions never see the constraints
        missing.
        """
        rows = await self.connection.fetch(
            """
            SELECT t.relname AS table, r.relname AS references,
                   format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname)
                       AS drop,
                   format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
                          pg_get_constraintdef(c.oid)) AS add
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_class r ON r.oid = c.confrelid
            WHERE c.contype = 'f' AND c.conrelid = ANY($1::regclass[])
            ORDER BY t.relname, c.conname
            """,
            list(TABLES),
        )
        for row in rows:
            await self.connection.execute(row["drop"])
            self.foreign_keys.append(_ForeignKey(row["table"], row["references"], row["add"]))

    async def _drop_indexes(self) -> None:
        """Every index of the seeded tables but the primary keys and those that foreign keys of
        other tables rely on; unique constraints are dropped and re-added as constraints."""
        rows = await self.connection.fetch(
            """
            SELECT t.relname AS table,
                   CASE WHEN c.oid IS NULL
                        THEN format('DROP INDEX %s', i.indexrelid::regclass)
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I', i.indrelid::regclass,
                                    c.conname)
                   END AS drop,
                   CASE WHEN c.oid IS NULL
                        THEN pg_get_indexdef(i.indexrelid)
                        ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass,
                                    c.conname, pg_get_constraintdef(c.oid))
                   END AS add
            FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_class x ON x.oid = i.indexrelid
            LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                                     AND c.contype IN ('p', 'u', 'x')
            WHERE i.indrelid = ANY($1::regclass[]) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT FROM pg_constraint f
                              WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
            ORDER BY t.relname, x.relname
            """,
            list(TABLES),
        )
        for row in rows:
            await self.connection.execute(row["drop"])
            self.indexes.setdefault(row["table"], []).append(row["add"])


def _sealed(chunks: Iterator[_Chunk], ring: Keyring) -> Iterator[_Chunk]:
    """The chunks with their columns encrypted at rest encrypted (in the generator's thread,
    off the event loop that feeds the COPY)."""
    for chunk in chunks:
        if chunk.table in ENCRYPTED:
            chunk = _Chunk(
                chunk.table,
                ring.seal_rows(chunk.table, TABLES[chunk.table], chunk.rows),
                chunk.last,
            )
        yield chunk


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
