"""The values a person may propose for their own record, checked exactly as they are stored.

One set of rules serves every path a personal value takes into a student's record or an account:
an amendment when it is filed and again when it is applied (app/rights/amend.py), and the
self-service contact correction (app/rights/contact.py).

    clean(AmendableField.PHONE, " +1 512 555 0199 ")   # '+1 512 555 0199'
    clean(AmendableField.GENDER, "Female")             # 'female'
    clean(AmendableField.EMAIL, "not an email")        # raises WriteRefused (INVALID_EMAIL)

The amendable fields are the student's own descriptive record: names, date of birth, gender,
ethnicity and contact. Not the student number or school (the district's identifiers and
placement, which an import keeps in step with the student information system), nor marks or
readiness results (a FERPA amendment contests how a record was written down, not the judgement a
grade expresses: a grade is appealed through the school).
"""

from __future__ import annotations

import datetime
import enum
import re
import unicodedata
from collections.abc import Mapping

from app.consent.rules import age_on
from app.writes import WriteRefused

MAX_NAME = 100
MAX_EMAIL = 254  # RFC 5321 path limit
MAX_PHONE = 30
# E.164 allows 15 digits; a local number without its country code has at least 7.
PHONE_DIGITS = range(7, 16)
# A student's plausible age: pre-kindergarten (about 3) to the end of adult and special
# education services, with margin either side.
MIN_AGE, MAX_AGE = 2, 30

# The vocabularies the data holds: the seed's genders and OneRoster's `sex` values
# (app/roster/mapping.py), and the federal race/ethnicity categories (OMB 1997) plus the
# roster's "Not reported".
GENDERS = ("female", "male", "nonbinary", "other", "unspecified")
ETHNICITIES = (
    "Hispanic or Latino",
    "White",
    "Black or African American",
    "Asian",
    "American Indian or Alaska Native",
    "Native Hawaiian or Other Pacific Islander",
    "Two or More Races",
    "Not reported",
)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+?[0-9 ().\-]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AmendableField(enum.StrEnum):
    """A field of the student's record a parent (or eligible student) may ask to correct; the
    value is the field's GraphQL name, as statements and the audit name it."""

    FIRST_NAME = "firstName"
    LAST_NAME = "lastName"
    PREFERRED_NAME = "preferredName"
    DATE_OF_BIRTH = "dateOfBirth"
    GENDER = "gender"
    ETHNICITY = "ethnicity"
    EMAIL = "email"
    PHONE = "phone"


# The `student` column of each field (names from the code, never from a request).
COLUMNS: Mapping[AmendableField, str] = {
    AmendableField.FIRST_NAME: "first_name",
    AmendableField.LAST_NAME: "last_name",
    AmendableField.PREFERRED_NAME: "preferred_name",
    AmendableField.DATE_OF_BIRTH: "date_of_birth",
    AmendableField.GENDER: "gender",
    AmendableField.ETHNICITY: "ethnicity",
    AmendableField.EMAIL: "email",
    AmendableField.PHONE: "phone",
}
# Fields the record cannot be without (NOT NULL columns): a change cannot clear them.
REQUIRED = frozenset(
    {
        AmendableField.FIRST_NAME,
        AmendableField.LAST_NAME,
        AmendableField.GENDER,
        AmendableField.ETHNICITY,
    }
)


class InvalidChanges(Exception):
    """Values that cannot be stored: (index in the input, refusal) for each."""

    def __init__(self, refusals: list[tuple[int, WriteRefused]]) -> None:
        super().__init__("; ".join(str(r) for _, r in refusals))
        self.refusals = refusals


def _refuse(field: AmendableField, message: str, code: str) -> WriteRefused:
    return WriteRefused(f"{field.value}: {message}", code, field.value)


def _text(field: AmendableField, value: str, limit: int) -> str:
    """`value` trimmed, one line of printable text of at most `limit` characters."""
    value = value.strip()
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise _refuse(field, "control characters are not allowed", "INVALID_CHARACTERS")
    if len(value) > limit:
        raise _refuse(field, f"at most {limit} characters", "TOO_LONG")
    return value


def email(value: str, field: AmendableField = AmendableField.EMAIL) -> str:
    value = _text(field, value, MAX_EMAIL)
    if not _EMAIL.match(value):
        raise _refuse(field, "not an email address (name@example.org)", "INVALID_EMAIL")
    return value


def phone(value: str, field: AmendableField = AmendableField.PHONE) -> str:
    value = " ".join(_text(field, value, MAX_PHONE).split())
    digits = sum(c.isdigit() for c in value)
    if not _PHONE.match(value) or digits not in PHONE_DIGITS or value.count("+") > 1:
        raise _refuse(
            field,
            "a phone number has 7 to 15 digits, optionally a leading + and spaces, dashes,"
            " dots or parentheses",
            "INVALID_PHONE",
        )
    return value


def date_of_birth(value: str, today: datetime.date) -> datetime.date:
    field = AmendableField.DATE_OF_BIRTH
    value = value.strip()
    try:
        if not _ISO_DATE.match(value):
            raise ValueError(value)
        born = datetime.date.fromisoformat(value)
    except ValueError:
        raise _refuse(field, "a date is written YYYY-MM-DD", "INVALID_DATE") from None
    if born > today:
        raise _refuse(field, "a date of birth cannot be in the future", "FUTURE_DATE")
    if not MIN_AGE <= age_on(born, today) <= MAX_AGE:
        raise _refuse(
            field, f"a student is between {MIN_AGE} and {MAX_AGE} years old", "IMPLAUSIBLE_AGE"
        )
    return born


def _one_of(field: AmendableField, value: str, allowed: tuple[str, ...]) -> str:
    by_lower = {v.lower(): v for v in allowed}
    found = by_lower.get(" ".join(value.split()).lower())
    if found is None:
        raise _refuse(field, f"one of {', '.join(allowed)}", "NOT_ALLOWED")
    return found


def clean(
    field: AmendableField, value: str | None, *, today: datetime.date | None = None
) -> str | datetime.date | None:
    """The value to store for `field`, or WriteRefused. None (or blank) clears an optional
    field."""
    if value is not None and not value.strip():
        value = None
    if value is None:
        if field in REQUIRED:
            raise _refuse(field, "cannot be empty", "REQUIRED")
        return None
    match field:
        case AmendableField.EMAIL:
            return email(value)
        case AmendableField.PHONE:
            return phone(value)
        case AmendableField.DATE_OF_BIRTH:
            return date_of_birth(value, today or datetime.datetime.now(datetime.UTC).date())
        case AmendableField.GENDER:
            return _one_of(field, value, GENDERS)
        case AmendableField.ETHNICITY:
            return _one_of(field, value, ETHNICITIES)
        case _:
            return _text(field, value, MAX_NAME)


def shown(value: object) -> str | None:
    """A stored value as the API and the audit show it (dates in ISO form)."""
    if value is None:
        return None
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)
