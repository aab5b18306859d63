"""Each OneRoster file's rows, checked one at a time and turned into staging tuples.

A row check sees one row only (the checks across rows — duplicates, references — run in SQL on
the staging tables, `app.roster.load`). A value missing where SchoolGraph cannot do without it,
or unreadable, is an error; what real exports commonly carry is a warning and the row is kept
as well as it can be.

    parse = RowParser(messages, file="users.csv", mode="bulk", version="1.1")
    record = parse.user(line, row)   # a tuple for `stg_user`, or None
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

from app.roster import mapping
from app.roster.manifest import BULK
from app.roster.messages import Messages

# Staging tables: (column, SQL type), in tuple order. Every table starts with
# (line, sid, deleted, modified).
_COMMON = [("line", "int"), ("sid", "text"), ("deleted", "bool"), ("modified", "timestamp")]
STAGING: dict[str, list[tuple[str, str]]] = {
    "stg_org": [*_COMMON, ("name", "text"), ("type", "text"), ("identifier", "text"),
                          ("parent_sid", "text")],
    "stg_session": [*_COMMON, ("title", "text"), ("starts_on", "date"), ("ends_on", "date")],
    "stg_course": [*_COMMON, ("title", "text"), ("code", "text"), ("subject", "text"),
                             ("grades", "smallint[]")],
    "stg_class": [*_COMMON, ("title", "text"), ("code", "text"), ("class_type", "text"),
                            ("course_sid", "text"), ("school_sid", "text"), ("term_sid", "text"),
                            ("subject", "text"), ("grades", "smallint[]"),
                            ("periods", "text[]")],
    "stg_user": [*_COMMON, ("enabled", "bool"), ("username", "text"), ("given", "text"),
                           ("family", "text"), ("preferred", "text"), ("identifier", "text"),
                           ("email", "text"), ("phone", "text"), ("grade", "smallint"),
                           ("agent_sids", "text[]"), ("primary_org", "text")],
    # One row per (user, role, org): from users.csv in 1.1, from roles.csv in 1.2.
    "stg_role": [("line", "int"), ("file", "text"), ("user_sid", "text"), ("role", "text"),
                 ("org_sid", "text"), ("is_primary", "bool"), ("deleted", "bool")],
    "stg_demographic": [*_COMMON, ("birth", "date"), ("sex", "text"), ("ethnicity", "text")],
    "stg_enrollment": [*_COMMON, ("class_sid", "text"), ("school_sid", "text"),
                                 ("user_sid", "text"), ("role", "text"), ("is_primary", "bool"),
                                 ("begins_on", "date"), ("ends_on", "date")],
    # Gradebook files (app/roster/gradebook.py).
    "stg_category": [*_COMMON, ("title", "text")],
    "stg_line_item": [*_COMMON, ("class_sid", "text"), ("category_sid", "text"),
                                ("period_sid", "text"), ("max", "numeric")],
    "stg_result": [*_COMMON, ("line_item_sid", "text"), ("student_sid", "text"),
                             ("score", "numeric"), ("score_date", "date"), ("comment", "text")],
}  # fmt: skip

# Columns each file may carry (lower case); anything else is a vendor column, ignored.
_BASE = ("sourcedid", "status", "datelastmodified", "metadata")
KNOWN_COLUMNS: dict[str, set[str]] = {
    "orgs.csv": {*_BASE, "name", "type", "identifier", "parentsourcedid"},
    "academicsessions.csv": {*_BASE, "title", "type", "startdate", "enddate", "parentsourcedid",
                             "schoolyear"},
    "courses.csv": {*_BASE, "schoolyearsourcedid", "title", "coursecode", "grades",
                    "orgsourcedid", "subjects", "subjectcodes"},
    "classes.csv": {*_BASE, "title", "grades", "coursesourcedid", "classcode", "classtype",
                    "location", "schoolsourcedid", "termsourcedids", "subjects", "subjectcodes",
                    "periods"},
    "users.csv": {*_BASE, "enableduser", "orgsourcedids", "role", "username", "userids",
                  "givenname", "familyname", "middlename", "identifier", "email", "sms", "phone",
                  "agentsourcedids", "grades", "password", "usermasteridentifier",
                  "preferredgivenname", "preferredmiddlename", "preferredfamilyname",
                  "primaryorgsourcedid", "pronouns"},
    "roles.csv": {*_BASE, "userSourcedId".lower(), "roletype", "role", "begindate", "enddate",
                  "orgsourcedid", "userprofilesourcedid"},
    "demographics.csv": {*_BASE, "birthdate", "sex", "americanindianoralaskanative", "asian",
                         "blackorafricanamerican", "nativehawaiianorotherpacificislander",
                         "white", "demographicracetwoormoreraces", "hispanicorlatinoethnicity",
                         "countryofbirthcode", "stateofbirthabbreviation", "cityofbirth",
                         "publicschoolresidencestatus"},
    "enrollments.csv": {*_BASE, "classsourcedid", "schoolsourcedid", "usersourcedid", "role",
                        "primary", "begindate", "enddate"},
}  # fmt: skip
# Header spellings seen in real files, read as the spec's.
ALIASES = {
    "prefferedgivenname": "preferredgivenname",
    "prefferedmiddlename": "preferredmiddlename",
    "prefferedfamilyname": "preferredfamilyname",
    "datalastmodified": "datelastmodified",
}


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class RowParser:
    def __init__(self, messages: Messages, *, file: str, mode: str, version: str) -> None:
        self.messages = messages
        self.file = file
        self.mode = mode
        self.version = version

    # --- shared ---------------------------------------------------------------------------

    def _error(self, line: int, column: str, text: str) -> None:
        self.messages.error(self.file, line, column, text)

    def _warn(self, line: int, column: str, text: str) -> None:
        self.messages.warn(self.file, line, column, text)

    def _required(self, line: int, row: dict[str, str], column: str, label: str) -> str | None:
        value = row.get(column.lower(), "")
        if not value:
            self._error(line, label, "required value missing")
            return None
        return value

    def _common(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        for alias, name in ALIASES.items():
            if alias in row and name not in row:
                row[name] = row.pop(alias)
        sid = self._required(line, row, "sourcedid", "sourcedId")
        status = row.get("status", "")
        low = status.lower()
        if status and low not in mapping.STATUSES:
            self._error(line, "status", f"{status!r}: expected active or tobedeleted")
            return None
        if status and self.mode == BULK:
            self.messages.warn_once(
                self.file, line, "status", "status values in a bulk file (read as given)"
            )
        if low == "inactive":
            self._warn(line, "status", "'inactive' (OneRoster 1.0) read as tobedeleted")
        elif status and status != low and low != "tobedeleted":
            self._warn(line, "status", f"{status!r} read as {low!r}")
        modified = None
        raw = row.get("datelastmodified", "")
        if raw:
            modified, iso = mapping.parse_datetime(raw)
            if modified is None:
                self._warn(line, "dateLastModified", f"{raw!r} is not a date; ignored")
            elif not iso:
                self._warn(line, "dateLastModified", f"{raw!r} read as {modified:%Y-%m-%d}")
            elif modified.tzinfo is not None:
                modified = modified.astimezone(UTC).replace(tzinfo=None)
        if sid is None:
            return None
        return (line, sid, low in ("tobedeleted", "inactive"), modified)

    def _enum(self, line: int, row: dict[str, str], column: str, allowed: tuple[str, ...],
              label: str, *, required: bool = True) -> str | None:  # fmt: skip
        value = row.get(column, "")
        if not value:
            if required:
                self._error(line, label, "required value missing")
            return None
        low = value.lower()
        if low not in allowed:
            self._error(line, label, f"{value!r} is not one of {', '.join(allowed)}")
            return None
        # OneRoster enumerations are camelCase; another case is read, with a word.
        canonical = mapping.CANONICAL.get(low, low)
        if value != canonical:
            self._warn(line, label, f"{value!r} read as {canonical!r}")
        return low

    def _date(self, line: int, row: dict[str, str], column: str, label: str,
              *, required: bool) -> date | None:  # fmt: skip
        value = row.get(column, "")
        if not value:
            if required:
                self._error(line, label, "required value missing")
            return None
        day, iso = mapping.parse_date(value)
        if day is None:
            if required:
                self._error(line, label, f"{value!r} is not a date (YYYY-MM-DD)")
            else:
                self._warn(line, label, f"{value!r} is not a date; ignored")
        elif not iso:
            self._warn(line, label, f"{value!r} read as {day.isoformat()}")
        return day

    # --- one method per file --------------------------------------------------------------

    def org(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        name = self._required(line, row, "name", "name")
        kind = self._enum(line, row, "type", mapping.ORG_TYPES, "type")
        if common is None or name is None or kind is None:
            return None
        return (*common, name, kind, row.get("identifier") or None,
                row.get("parentsourcedid") or None)  # fmt: skip

    def session(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        title = self._required(line, row, "title", "title")
        self._enum(line, row, "type", mapping.SESSION_TYPES, "type")
        starts = self._date(line, row, "startdate", "startDate", required=True)
        ends = self._date(line, row, "enddate", "endDate", required=True)
        if starts and ends and ends < starts:
            self._error(line, "endDate", f"{ends} is before startDate {starts}")
            return None
        if common is None or title is None or starts is None or ends is None:
            return None
        return (*common, title, starts, ends)

    def course(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        title = self._required(line, row, "title", "title")
        if common is None or title is None:
            return None
        subjects = _list(row.get("subjects", ""))
        return (*common, title, row.get("coursecode") or None,
                subjects[0] if subjects else None,
                mapping.grade_levels(row.get("grades", "")))  # fmt: skip

    def class_(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        title = self._required(line, row, "title", "title")
        kind = self._enum(line, row, "classtype", mapping.CLASS_TYPES, "classType",
                          required=False)  # fmt: skip
        school = self._required(line, row, "schoolsourcedid", "schoolSourcedId")
        terms = _list(row.get("termsourcedids", ""))
        if not terms:
            self._error(line, "termSourcedIds", "required value missing")
        if common is None or title is None or school is None or not terms:
            return None
        subjects = _list(row.get("subjects", ""))
        return (*common, title, row.get("classcode") or None, kind,
                row.get("coursesourcedid") or None, school, terms[0],
                subjects[0] if subjects else None, mapping.grade_levels(row.get("grades", "")),
                _list(row.get("periods", "")) or None)  # fmt: skip

    def user(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        given = self._required(line, row, "givenname", "givenName")
        family = self._required(line, row, "familyname", "familyName")
        enabled_raw = row.get("enableduser", "")
        enabled = mapping.truthy(enabled_raw) if enabled_raw else True
        if enabled is None:
            self._error(line, "enabledUser", f"{enabled_raw!r}: expected true or false")
        elif enabled_raw and enabled_raw not in ("true", "false"):
            self.messages.warn_once(self.file, line, "enabledUser",
                                    f"{enabled_raw!r} read as {str(enabled).lower()}")  # fmt: skip
        if row.get("password"):
            self.messages.warn_once(self.file, line, "password", "passwords are never imported")
        grades = row.get("grades", "")
        grade = mapping.grade_level(grades) if grades else None
        if grades and grade is None:
            self._warn(line, "grades", f"{grades!r} is not a grade; ignored")
        if common is None or given is None or family is None or enabled is None:
            return None
        return (*common, enabled, row.get("username") or None, given, family,
                row.get("preferredgivenname") or None, row.get("identifier") or None,
                row.get("email") or None, row.get("phone") or row.get("sms") or None, grade,
                _list(row.get("agentsourcedids", "")),
                row.get("primaryorgsourcedid") or None)  # fmt: skip

    def user_roles(self, line: int, row: dict[str, str]) -> list[tuple[Any, ...]]:
        """1.1: the `role` and `orgSourcedIds` of a users.csv row, one staging row per org."""
        role = self._enum(line, row, "role", tuple(mapping.ROLE_NAMES), "role",
                          required=self.version == "1.1")  # fmt: skip
        sid = row.get("sourcedid", "")
        if role is None or not sid:
            return []
        if mapping.sg_role(role) is None:
            self._warn(line, "role", f"{role!r} has no SchoolGraph role; the user gets none")
            return []
        orgs: list[str | None] = [*_list(row.get("orgsourcedids", ""))] or [None]
        deleted = row.get("status", "").lower() in ("tobedeleted", "inactive")
        return [(line, self.file, sid, role, org, i == 0, deleted) for i, org in enumerate(orgs)]

    def role(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        user = self._required(line, row, "usersourcedid", "userSourcedId")
        role = self._enum(line, row, "role", tuple(mapping.ROLE_NAMES), "role")
        org = self._required(line, row, "orgsourcedid", "orgSourcedId")
        if common is None or user is None or role is None or org is None:
            return None
        if mapping.sg_role(role) is None:
            self._warn(line, "role", f"{role!r} has no SchoolGraph role; ignored")
            return None
        primary = row.get("roletype", "").lower() == "primary"
        return (line, self.file, user, role, org, primary, common[2])

    def demographic(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        birth = self._date(line, row, "birthdate", "birthDate", required=False)
        sex_raw = row.get("sex", "")
        sex = mapping.SEX.get(sex_raw.lower()) if sex_raw else None
        if sex_raw and sex is None:
            self._warn(line, "sex", f"{sex_raw!r} is not female, male, other or unspecified")
        elif sex_raw and sex != sex_raw:
            self._warn(line, "sex", f"{sex_raw!r} read as {sex!r}")
        flags = {}
        for flag in (*mapping.RACE_FLAGS, "hispanicorlatinoethnicity",
                     "demographicracetwoormoreraces"):  # fmt: skip
            raw = row.get(flag, "")
            value = mapping.truthy(raw) if raw else False
            if value is None:
                self._warn(line, flag, f"{raw!r}: expected true or false; read as false")
                value = False
            flags[flag] = value
        if common is None:
            return None
        races = {flag: flags[flag] for flag in mapping.RACE_FLAGS}
        group = mapping.ethnicity(races, hispanic=flags["hispanicorlatinoethnicity"])
        if flags["demographicracetwoormoreraces"] and group != mapping.HISPANIC:
            group = mapping.MULTIRACIAL
        return (*common, birth, sex, group)

    def enrollment(self, line: int, row: dict[str, str]) -> tuple[Any, ...] | None:
        common = self._common(line, row)
        klass = self._required(line, row, "classsourcedid", "classSourcedId")
        user = self._required(line, row, "usersourcedid", "userSourcedId")
        role = self._enum(line, row, "role", tuple(mapping.ROLE_NAMES), "role")
        primary_raw = row.get("primary", "")
        primary = mapping.truthy(primary_raw) if primary_raw else False
        if primary is None:
            self._warn(line, "primary", f"{primary_raw!r}: expected true or false; read as false")
            primary = False
        begins = self._date(line, row, "begindate", "beginDate", required=False)
        ends = self._date(line, row, "enddate", "endDate", required=False)
        if common is None or klass is None or user is None or role is None:
            return None
        return (*common, klass, row.get("schoolsourcedid") or None, user, role, primary,
                begins, ends)  # fmt: skip


def unknown_columns(file: str, header: list[str]) -> list[str]:
    known = KNOWN_COLUMNS.get(file.lower())
    if known is None:
        return []
    return [
        name
        for name in header
        if name.strip() and ALIASES.get(name.strip().lower(), name.strip().lower()) not in known
    ]
