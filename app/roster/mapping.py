"""OneRoster values → SchoolGraph values (the table in docs/oneroster.md).

sg_role("siteAdministrator")   # "school_admin"
grade_level("KG")              # 0
ethnicity({"asian": True, "white": True}, hispanic=False)   # "Two or More Races"
"""

from __future__ import annotations

import re
from datetime import date, datetime

# OneRoster role → (SchoolGraph role, scope). A role SchoolGraph does not have maps to the one
# that grants no more: aides and proctors see students only through the classes they are
# enrolled in, like teachers; counselors are the school's coordinators.
ROLES: dict[str, str] = {
    "student": "student",
    "teacher": "teacher",
    "aide": "teacher",
    "proctor": "teacher",
    "counselor": "coordinator",
    "administrator": "school_admin",
    "siteadministrator": "school_admin",
    "principal": "school_admin",
    "districtadministrator": "district_admin",
    "systemadministrator": "district_admin",
    "parent": "guardian",
    "guardian": "guardian",
    "relative": "guardian",
}
GUARDIAN_ROLES = ("parent", "guardian", "relative")
# Staff roles that teach a class they are enrolled in (a teaching assignment).
TEACHING_ROLES = ("teacher", "aide", "proctor")
ROLE_NAMES = {name.lower(): name for name in (
    "student", "teacher", "aide", "proctor", "counselor", "administrator",
    "siteAdministrator", "principal", "districtAdministrator", "systemAdministrator",
    "parent", "guardian", "relative", "examiner",
)}  # fmt: skip

# The spelling of each enumeration value in the specification, by its lower case.
CANONICAL = {name.lower(): name for name in (
    "schoolYear", "gradingPeriod", "siteAdministrator", "districtAdministrator",
    "systemAdministrator", "tobedeleted",
)}  # fmt: skip

ORG_TYPES = ("district", "school", "department", "local", "state", "national")
SESSION_TYPES = ("schoolyear", "term", "semester", "gradingperiod")
CLASS_TYPES = ("homeroom", "scheduled")
STATUSES = ("active", "tobedeleted", "inactive")

SEX = {"female": "female", "male": "male", "other": "other", "unspecified": "unspecified"}
UNSPECIFIED_SEX = "unspecified"

# Federal race/ethnicity (OMB 1997): Hispanic or Latino first, then one race, or two or more.
RACE_FLAGS = {
    "americanindianoralaskanative": "American Indian or Alaska Native",
    "asian": "Asian",
    "blackorafricanamerican": "Black or African American",
    "nativehawaiianorotherpacificislander": "Native Hawaiian or Other Pacific Islander",
    "white": "White",
}
HISPANIC = "Hispanic or Latino"
MULTIRACIAL = "Two or More Races"
NOT_REPORTED = "Not reported"

# CEDS grade codes; SchoolGraph counts kindergarten as 0 and pre-kindergarten as -1.
_GRADES = {"kg": 0, "k": 0, "tk": 0, "pk": -1, "pr": -1, "ps": -1, "it": -1}


def sg_role(role: str) -> str | None:
    return ROLES.get(role.lower())


def grade_level(code: str) -> int | None:
    """The first readable grade of a OneRoster `grades` value, or None."""
    for part in re.split(r"[,\s]+", code.strip()):
        low = part.lower()
        if low in _GRADES:
            return _GRADES[low]
        if low.isdigit() and 0 <= int(low) <= 13:
            return int(low)
    return None


def grade_levels(code: str) -> list[int]:
    levels = []
    for part in re.split(r"[,\s]+", code.strip()):
        level = grade_level(part) if part else None
        if level is not None and level not in levels:
            levels.append(level)
    return levels


def ethnicity(races: dict[str, bool], *, hispanic: bool) -> str:
    if hispanic:
        return HISPANIC
    marked = [RACE_FLAGS[flag] for flag, on in races.items() if on]
    if len(marked) > 1:
        return MULTIRACIAL
    return marked[0] if marked else NOT_REPORTED


def truthy(value: str) -> bool | None:
    low = value.strip().lower()
    if low in ("true", "t", "yes", "y", "1"):
        return True
    if low in ("false", "f", "no", "n", "0"):
        return False
    return None


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_date(value: str) -> tuple[date | None, bool]:
    """(the date, whether it was in the OneRoster format YYYY-MM-DD).

    `1/05/2023` (month/day/year, as spreadsheets write it) is read too, and flagged.
    """
    try:
        return date.fromisoformat(value[:10]), len(value) == 10
    except ValueError:
        pass
    match = _US_DATE.match(value)
    if match:
        month, day, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day), False
        except ValueError:
            return None, False
    return None, False


def parse_datetime(value: str) -> tuple[datetime | None, bool]:
    """A `dateLastModified`: ISO 8601 (with `Z`), or a date alone, flagged when not ISO."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")), True
    except ValueError:
        pass
    day, _ = parse_date(value)
    if day is None:
        return None, False
    return datetime(day.year, day.month, day.day), False
