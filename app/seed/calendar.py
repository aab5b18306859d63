"""Terms and dates: the school year around `today`, local time, ages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, timezone

# Everything happens in Central time (the district is in Texas); a fixed offset is enough here.
LOCAL_TZ = timezone(timedelta(hours=-6), "CST")


@dataclass(frozen=True)
class TermDates:
    name: str
    starts_on: date
    ends_on: date
    school_year: int  # the calendar year the school year starts in


def _on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _on_or_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def _school_year_terms(year: int) -> tuple[TermDates, TermDates]:
    """Fall starts the Monday after Aug 12 and ends before winter break; spring runs Jan-May."""
    fall = TermDates(
        f"Fall {year}",
        _on_or_after(date(year, 8, 12), 0),
        _on_or_before(date(year, 12, 19), 4),
        year,
    )
    spring = TermDates(
        f"Spring {year + 1}",
        _on_or_after(date(year + 1, 1, 6), 0),
        _on_or_before(date(year + 1, 5, 29), 4),
        year,
    )
    return fall, spring


@dataclass(frozen=True)
class Calendar:
    terms: tuple[TermDates, ...]  # chronological
    current: TermDates
    previous: TermDates

    @property
    def school_year(self) -> int:
        return self.current.school_year


def calendar_for(today: date) -> Calendar:
    candidates = [t for y in range(today.year - 2, today.year + 1) for t in _school_year_terms(y)]
    # The term containing today, or the next one when today falls between terms.
    index = next(i for i, t in enumerate(candidates) if t.ends_on >= today)
    current, previous = candidates[index], candidates[index - 1]
    terms = set(_school_year_terms(current.school_year)) | {previous}
    return Calendar(tuple(sorted(terms, key=lambda t: t.starts_on)), current, previous)


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
