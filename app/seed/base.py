"""What every stage of the generator shares: the seeded random source, the state of the build
(ids, rows, the demo accounts) and small helpers for times and weighted picks."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from argon2 import PasswordHasher

from app.seed.accounts import DEMO_ACCOUNTS, DEMO_PASSWORD
from app.seed.calendar import LOCAL_TZ, calendar_for
from app.seed.model import TABLES, District, Household, Row, Student
from app.seed.names import NamePools

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

_T = TypeVar("_T")

# Offsets from midnight, one per minute of the day.
MINUTES = tuple(timedelta(minutes=n) for n in range(24 * 60))


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` into integers proportional to `weights` (largest remainder method)."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


class SeededRandom(random.Random):
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


class Base:
    """The state of one build; the stages (people, classes, plan, records) add the steps."""

    districts: list[District]

    def __init__(self, *, seed: int, today: date) -> None:
        self.rng = SeededRandom(seed)
        self.today = today
        self.calendar = calendar_for(today)
        self.midnights: dict[date, datetime] = {}
        self.midnight_runs: dict[tuple[date, int], tuple[datetime, ...]] = {}
        # Midnight n days before today, for n back to before the oldest portfolio (grade 12
        # students opened theirs six years ago).
        oldest = date(self.calendar.school_year - 8, 1, 1)
        self.midnight_ago = [
            self._midnight(today - timedelta(days=n)) for n in range((today - oldest).days + 1)
        ]
        self.names = NamePools.build(seed)
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
        self.demo_student: Student | None = None
        self.demo_family: Household | None = None
        self.dropped: dict[int, set[int]] = {}  # class id -> students who dropped it this term
        # Under-13 students without COPPA consent: nothing is collected from them.
        self.without_coppa: set[int] = set()

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
        return self._midnight(day) + MINUTES[minute]

    def _pick(self, options: Sequence[tuple[str, float]]) -> str:
        r = self.rng.random()
        for value, share in options:
            r -= share
            if r < 0:
                return value
        return options[-1][0]
