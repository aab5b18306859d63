"""`export_roster`: a district (or one of its schools) as a OneRoster 1.1 or 1.2 CSV set.

    summary = await export_roster(url, Path("district.zip"), version="1.2", district="1")
    summary.rows   # {"orgs.csv": 3, "users.csv": 412, ...}

The mapping is the importer's, inverted (docs/oneroster.md, "Export"): importing an export
into an empty district and exporting again gives the same files, and importing it back into
the district it came from changes nothing. Every file is `bulk`; `status` and
`dateLastModified` are left empty (the importer warns when a bulk file fills them, and a
timestamp would make two exports of the same data differ).

Streamed: each file is written row by row from a server-side cursor straight into the zip,
so memory does not grow with the district. The whole export reads one snapshot
(REPEATABLE READ) and is recorded as an `audit_event` in the same transaction.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from app.consent.rules import third_party_granted
from app.database import asyncpg_dsn
from app.encryption import KEYS_SQL, DecryptionFailed, Keyring, MasterKey, data_keys
from app.roster import mapping

VERSIONS = ("1.1", "1.2")
ACTION = "roster.export"
_BATCH = 2000

# A row made by hand or by the seed has no sourcedId; it gets `sg-<kind>-<id>`, stable as
# long as the row lives, and distinct from any other kind's (the importer keeps it on import).
_SID = "coalesce({alias}.sourced_id, 'sg-{kind}-' || {alias}.id)"

# SchoolGraph role → OneRoster role, per version (the nearest the importer maps back to it).
_ROLES = {
    "1.1": {"student": "student", "teacher": "teacher", "coordinator": "counselor",
            "school_admin": "administrator", "district_admin": "administrator"},
    "1.2": {"student": "student", "teacher": "teacher", "coordinator": "counselor",
            "school_admin": "siteAdministrator", "district_admin": "districtAdministrator"},
}  # fmt: skip
# 1.1 gives a user one role: the one that grants most.
_RANK = ("district_admin", "school_admin", "coordinator", "teacher", "guardian", "student")

HEADERS: dict[str, list[str]] = {
    "orgs.csv": ["sourcedId", "status", "dateLastModified", "name", "type", "identifier",
                 "parentSourcedId"],
    "academicSessions.csv": ["sourcedId", "status", "dateLastModified", "title", "type",
                             "startDate", "endDate", "parentSourcedId", "schoolYear"],
    "courses.csv": ["sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title",
                    "courseCode", "grades", "orgSourcedId", "subjects", "subjectCodes"],
    "classes.csv": ["sourcedId", "status", "dateLastModified", "title", "grades",
                    "courseSourcedId", "classCode", "classType", "location", "schoolSourcedId",
                    "termSourcedIds", "subjects", "subjectCodes", "periods"],
    "users.csv": ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds",
                  "role", "username", "userIds", "givenName", "familyName", "middleName",
                  "identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
                  "password", "preferredGivenName"],
    "roles.csv": ["sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role",
                  "beginDate", "endDate", "orgSourcedId", "userProfileSourcedId"],
    "demographics.csv": ["sourcedId", "status", "dateLastModified", "birthDate", "sex",
                         "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
                         "nativeHawaiianOrOtherPacificIslander", "white",
                         "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity"],
    "enrollments.csv": ["sourcedId", "status", "dateLastModified", "classSourcedId",
                        "schoolSourcedId", "userSourcedId", "role", "primary", "beginDate",
                        "endDate"],
}  # fmt: skip
# users.csv in 1.2 carries no role (roles.csv does) but names the primary org.
_USERS_12 = [c for c in HEADERS["users.csv"] if c not in ("orgSourcedIds", "role")] + [
    "primaryOrgSourcedId"
]
_ALL_FILES = ("academicSessions", "categories", "classes", "classResources", "courses",
              "courseResources", "demographics", "enrollments", "lineItems", "orgs",
              "resources", "results", "users")  # fmt: skip


class RosterExportError(Exception):
    """The export could not start: the district or school is unknown or ambiguous."""


@dataclass
class ExportSummary:
    version: str
    district_id: int
    school_id: int | None
    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    # The recipient, when it is a third party; and the students left out for want of consent.
    third_party: str | None = None
    left_out: int = 0


def _grade(level: int | None) -> str:
    """A SchoolGraph grade level as a CEDS code (`KG`, `PK`, `01`…), "" when unknown."""
    if level is None:
        return ""
    return {0: "KG", -1: "PK"}.get(level, f"{level:02d}")


def _grades(levels: Sequence[int] | None) -> str:
    return ",".join(_grade(level) for level in levels or ())


def _bool(value: bool | None) -> str:
    return "true" if value else "false"


def _race_flags(ethnicity: str | None) -> list[str]:
    """The seven demographics flags for an ethnicity (the importer's `mapping.ethnicity`,
    inverted): one race, `demographicRaceTwoOrMoreRaces`, or Hispanic or Latino."""
    races = [_bool(ethnicity == name) for name in mapping.RACE_FLAGS.values()]
    return [*races, _bool(ethnicity == mapping.MULTIRACIAL), _bool(ethnicity == mapping.HISPANIC)]


class _Exporter:
    def __init__(
        self, c: asyncpg.Connection, out: zipfile.ZipFile, version: str, ring: Keyring
    ) -> None:
        self.c = c
        self.out = out
        self.version = version
        self.ring = ring
        self.rows: dict[str, int] = {}

    async def _cursor(self, sql: str, *args: Any) -> AsyncIterator[asyncpg.Record]:
        async for record in self.c.cursor(sql, *args, prefetch=_BATCH):
            yield record

    def _open(self, name: str, header: list[str]) -> tuple[io.TextIOWrapper, Any]:
        raw = self.out.open(name, "w", force_zip64=True)
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(header)
        return text, writer

    async def write(self, name: str, header: list[str], sql: str, *args: Any) -> None:
        """`name` from `sql`, whose columns are in `header`'s order (by name, case aside)."""
        text, writer = self._open(name, header)
        count = 0
        with text:
            async for record in self._cursor(sql, *args):
                writer.writerow(["" if v is None else str(v) for v in record.values()])
                count += 1
        self.rows[name] = count

    def _plain(self, table: str, column: str, row_id: int, blob: bytes | None) -> str:
        try:
            return self.ring.decrypt(table, column, row_id, blob) or ""
        except DecryptionFailed:
            # A value no key opens any more is exported as absent rather than as ciphertext.
            return ""

    def manifest(self, files: Sequence[str]) -> None:
        text, writer = self._open("manifest.csv", ["propertyName", "value"])
        with text:
            writer.writerow(["manifest.version", "1.0"])
            writer.writerow(["oneroster.version", self.version])
            for entity in sorted({*_ALL_FILES, *(("roles", "userProfiles") if self.version ==
                                                "1.2" else ())}):  # fmt: skip
                writer.writerow([f"file.{entity}", "bulk" if entity in files else "absent"])
            writer.writerow(["source.systemName", "SchoolGraph"])

    async def users(self) -> None:
        v11 = self.version == "1.1"
        header = HEADERS["users.csv"] if v11 else _USERS_12
        text, writer = self._open("users.csv", header)
        count = 0
        with text:
            async for r in self._cursor("SELECT * FROM x_user ORDER BY sid"):
                table, row_id = ("app_user", r["id"]) if r["id"] is not None else (
                    "student", r["student_id"])  # fmt: skip
                email = self._plain(table, "email", row_id, r["email"])
                phone = self._plain(table, "phone", row_id, r["phone"])
                values = {
                    "sourcedId": r["sid"], "enabledUser": _bool(r["enabled"]),
                    "orgSourcedIds": r["orgs11"], "role": r["role11"],
                    "username": r["username"], "givenName": r["given"],
                    "familyName": r["family"], "identifier": r["identifier"] or "",
                    "email": email, "phone": phone,
                    "agentSourcedIds": r["agents"] or "", "grades": _grade(r["grade"]),
                    "preferredGivenName": r["preferred"] or "",
                    "primaryOrgSourcedId": r["primary_org"] or "",
                }  # fmt: skip
                writer.writerow([values.get(column, "") for column in header])
                count += 1
        self.rows["users.csv"] = count

    async def demographics(self) -> None:
        text, writer = self._open("demographics.csv", HEADERS["demographics.csv"])
        count = 0
        with text:
            async for r in self._cursor(
                "SELECT sid, date_of_birth, gender, ethnicity FROM x_student ORDER BY sid"
            ):
                sex = mapping.SEX.get((r["gender"] or "").lower(), mapping.UNSPECIFIED_SEX)
                birth = r["date_of_birth"].isoformat() if r["date_of_birth"] else ""
                writer.writerow([r["sid"], "", "", birth, sex, *_race_flags(r["ethnicity"])])
                count += 1
        self.rows["demographics.csv"] = count


async def _district(c: asyncpg.Connection, district: str | None) -> asyncpg.Record:
    if district is None:
        rows = await c.fetch("SELECT id, sourced_id FROM district ORDER BY id LIMIT 2")
        if len(rows) != 1:
            raise RosterExportError(
                "no district to export" if not rows else "name the district with --district"
            )
        return rows[0]
    column = "id" if district.isdigit() else "name"
    row = await c.fetchrow(
        f"SELECT id, sourced_id FROM district WHERE {column} = $1 ORDER BY id LIMIT 1",
        int(district) if district.isdigit() else district,
    )
    if row is None:
        raise RosterExportError(f"no district {district!r}")
    return row


async def _prepare(
    c: asyncpg.Connection,
    version: str,
    district_id: int,
    school: int | None,
    *,
    third_party: bool = False,
) -> tuple[str, int]:
    """Temporary tables of what is exported, each row with its (sourced or generated) id; and,
    for a third party, how many students were left out for want of their consent."""
    d_sid = await c.fetchval(
        f"SELECT {_SID.format(alias='d', kind='district')} FROM district d WHERE id = $1",
        district_id,
    )

    async def temp(name: str, sql: str, *args: Any) -> None:
        await c.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {sql}", *args)
        await c.execute(f"ANALYZE {name}")

    await temp(
        "x_school",
        f"SELECT s.id, {_SID.format(alias='s', kind='school')} AS sid, s.name, s.code"
        " FROM school s WHERE s.district_id = $1 AND ($2::bigint IS NULL OR s.id = $2)",
        district_id,
        school,
    )
    await temp(
        "x_class",
        f"SELECT c.*, {_SID.format(alias='c', kind='class')} AS sid, xs.sid AS school_sid,"
        f" {_SID.format(alias='t', kind='term')} AS term_sid FROM class_section c"
        " JOIN x_school xs ON xs.id = c.school_id JOIN term t ON t.id = c.term_id"
        " WHERE c.district_id = $1",
        district_id,
    )
    # An inactive student was ended by an import (or by hand): a bulk set no longer lists them.
    await temp(
        "x_student",
        "SELECT st.*, st.id AS student_id, xs.sid AS school_sid, CASE WHEN a.id IS NULL"
        f" THEN {_SID.format(alias='st', kind='student')}"
        f" ELSE {_SID.format(alias='a', kind='user')} END AS sid"
        " FROM student st JOIN x_school xs ON xs.id = st.school_id"
        " LEFT JOIN app_user a ON a.id = st.user_id"
        " WHERE st.district_id = $1 AND st.enrollment_status = 'active'",
        district_id,
    )
    left_out = 0
    if third_party:
        # Disclosure to a third party needs the student's consent in force (docs/consent.md):
        # without it the student is not exported, nor anything that names them (roles,
        # enrollments, demographics, guardian links; guardians left with no student go too).
        status = await c.execute(
            f"DELETE FROM x_student st WHERE NOT {third_party_granted('st.id')}"
        )
        left_out = int(status.rsplit(" ", 1)[1])
    names = _ROLES[version]
    # One row per (user, OneRoster role, org), as the importer reads roles back.
    await temp(
        "x_role",
        "SELECT DISTINCT a.id AS user_id, r.role AS sg_role, CASE WHEN r.role = 'guardian' THEN"
        " coalesce((SELECT g.relationship FROM guardian_link g WHERE g.guardian_user_id = a.id"
        "   AND g.relationship IN ('parent', 'guardian', 'relative') ORDER BY g.id LIMIT 1),"
        "   'guardian') ELSE m.name END AS role,"
        " CASE WHEN r.role IN ('guardian', 'district_admin') OR r.school_id IS NULL THEN $2"
        "   ELSE xs.sid END AS org_sid,"
        # The importer's own key for a role assignment, for one made without it.
        f" coalesce(r.sourced_id, {_SID.format(alias='a', kind='user')} || ':' || CASE WHEN"
        "   r.role = 'school_admin' AND r.school_id IS NULL THEN 'district_admin' ELSE r.role"
        "   END || ':' || CASE WHEN r.role IN ('guardian', 'district_admin') THEN ''"
        "   ELSE coalesce(xs.sid, '') END) AS sourced_id"
        " FROM role_assignment r JOIN app_user a ON a.id = r.user_id AND a.district_id = $1"
        " LEFT JOIN unnest($3::text[], $4::text[]) m(sg, name) ON m.sg = r.role"
        " LEFT JOIN x_school xs ON xs.id = r.school_id"
        " WHERE r.role <> 'student' AND (m.name IS NOT NULL OR r.role = 'guardian')"
        "   AND (xs.id IS NOT NULL OR r.school_id IS NULL)"
        "   AND ($5::bigint IS NULL OR r.school_id = $5 OR r.role = 'guardian')"
        " UNION SELECT user_id, 'student', 'student', school_sid,"
        " sid || ':student:' || school_sid FROM x_student"
        "   WHERE user_id IS NOT NULL",
        district_id,
        d_sid,
        list(names),
        list(names.values()),
        school,
    )
    # A guardian is exported with a school only when a student of theirs is.
    await c.execute(
        "DELETE FROM x_role r WHERE r.sg_role = 'guardian' AND NOT EXISTS (SELECT 1 FROM"
        " guardian_link g JOIN x_student st ON st.id = g.student_id"
        " WHERE g.guardian_user_id = r.user_id)"
        " AND ($1::bigint IS NOT NULL OR $2)",
        school,
        third_party,
    )
    rank = "array_position($1::text[], sg_role)"
    await temp(
        "x_user",
        f"SELECT a.id, NULL::bigint AS student_id,"
        f" {_SID.format(alias='a', kind='user')} AS sid, a.username, a.first_name AS given,"
        " a.last_name AS family, a.is_active AS enabled, a.email, a.phone,"
        " st.student_number AS identifier, st.preferred_name AS preferred,"
        " st.grade_level AS grade, st.school_sid AS primary_org, top.role AS role11,"
        " (SELECT string_agg(DISTINCT r.org_sid, ',') FROM x_role r WHERE r.user_id = a.id"
        "   AND r.role = top.role) AS orgs11"
        " FROM app_user a"
        " LEFT JOIN x_student st ON st.user_id = a.id"
        f" CROSS JOIN LATERAL (SELECT role FROM x_role r WHERE r.user_id = a.id"
        f"   ORDER BY {rank}, role LIMIT 1) top"
        " WHERE a.district_id = $2"
        " UNION ALL SELECT NULL, st.id, st.sid, st.student_number, st.first_name, st.last_name,"
        " true, st.email, st.phone, st.student_number, st.preferred_name, st.grade_level,"
        " st.school_sid, 'student', st.school_sid FROM x_student st WHERE st.user_id IS NULL",
        list(_RANK),
        district_id,
    )
    await c.execute("CREATE INDEX ON x_user (id)")
    # Active guardian links between exported people, named on both sides (agentSourcedIds).
    await temp(
        "x_link",
        "SELECT gu.sid AS guardian_sid, st.sid AS student_sid FROM guardian_link g"
        " JOIN x_user gu ON gu.id = g.guardian_user_id JOIN x_student st ON st.id = g.student_id"
        " WHERE (g.ends_on IS NULL OR g.ends_on >= CURRENT_DATE)"
        " AND EXISTS (SELECT 1 FROM x_role r WHERE r.user_id = gu.id AND r.sg_role = 'guardian')",
    )
    await c.execute("ALTER TABLE x_user ADD COLUMN agents text")
    await c.execute(
        "UPDATE x_user u SET agents = a.agents FROM (SELECT sid, string_agg(other, ',' ORDER BY"
        " other) AS agents FROM (SELECT guardian_sid AS sid, student_sid AS other FROM x_link"
        " UNION SELECT student_sid, guardian_sid FROM x_link) p GROUP BY sid) a"
        " WHERE a.sid = u.sid"
    )
    return str(d_sid), left_out


async def export_roster(
    url: str,
    path: Path,
    *,
    version: str = "1.2",
    district: str | None = None,
    school: int | None = None,
    actor: str | None = None,
    third_party: str | None = None,
) -> ExportSummary:
    """Write the export to `path`. `third_party`: the recipient's name when it is not the
    district itself; students without consent to disclosure to third parties are left out."""
    if version not in VERSIONS:
        raise RosterExportError(f"version {version!r}: expected 1.1 or 1.2")
    c = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with c.transaction(isolation="repeatable_read"):
            row = await _district(c, district)
            district_id = int(row["id"])
            if school is not None and not await c.fetchval(
                "SELECT 1 FROM school WHERE id = $1 AND district_id = $2", school, district_id
            ):
                raise RosterExportError(f"no school {school} in district {district_id}")
            ring = Keyring.unwrap(MasterKey.from_settings(), data_keys(await c.fetch(KEYS_SQL)))
            if third_party is not None and not third_party.strip():
                raise RosterExportError("name the third party the export is for")
            d_sid, left_out = await _prepare(
                c, version, district_id, school, third_party=third_party is not None
            )
            # Written beside the target and renamed when complete: no half-written set.
            partial = path.with_name(path.name + ".partial")
            try:
                with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
                    ex = _Exporter(c, out, version, ring)
                    await _write_files(ex, version, district_id, d_sid)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, path)
            summary = ExportSummary(
                version, district_id, school, path, ex.rows, third_party, left_out
            )
            await c.execute(
                "INSERT INTO audit_event (district_id, actor_user_id, action, target_type,"
                " target_id, details) VALUES ($1, NULL, $2, $3, $4, $5::jsonb)",
                district_id,
                ACTION,
                "school" if school is not None else "district",
                school if school is not None else district_id,
                _details(summary, actor),
            )
    finally:
        await c.close()
    return summary


def _details(summary: ExportSummary, actor: str | None) -> str:
    # The CLI runs as the database owner, not as a SchoolGraph account: actor_user_id is
    # NULL and `by` names the operating-system user who ran it.
    return json.dumps(
        {
            "by": actor,
            "version": summary.version,
            "school_id": summary.school_id,
            "file": summary.path.name,
            "rows": summary.rows,
            # Null: for the district's own use. A name: a third party, and the students left
            # out for want of their consent.
            "third_party": summary.third_party,
            "left_out": summary.left_out,
        },
        sort_keys=True,
    )


async def _write_files(ex: _Exporter, version: str, district_id: int, d_sid: str) -> None:
    files = ["orgs", "academicSessions", "courses", "classes", "users", "demographics",
             "enrollments", *(["roles"] if version == "1.2" else [])]  # fmt: skip
    ex.manifest(files)
    await ex.write(
        "orgs.csv",
        HEADERS["orgs.csv"],
        "SELECT $1::text, '', '', name, 'district', '', '' FROM district WHERE id = $2"
        " UNION ALL SELECT sid, '', '', name, 'school', code, $1 FROM x_school ORDER BY 1",
        d_sid,
        district_id,
    )
    # Terms: the terms of exported classes, and every term of the district in a whole export.
    await ex.write(
        "academicSessions.csv",
        HEADERS["academicSessions.csv"],
        f"SELECT {_SID.format(alias='t', kind='term')} AS sid, '', '', t.name, 'term',"
        " t.starts_on, t.ends_on, '', extract(year FROM t.ends_on)::int FROM term t"
        " WHERE t.district_id = $1 AND (NOT EXISTS (SELECT 1 FROM school s"
        "   WHERE s.district_id = $1 AND s.id NOT IN (SELECT id FROM x_school))"
        "   OR t.id IN (SELECT term_id FROM x_class)) ORDER BY 1",
        district_id,
    )
    # SchoolGraph has no course: each class is exported with a course of its own
    # (`<class sourcedId>-course`), which gives the class back its code, subject and grades.
    await _write_classes(ex)
    await ex.users()
    if version == "1.2":
        await ex.write(
            "roles.csv",
            HEADERS["roles.csv"],
            "SELECT r.sourced_id, '', '',"
            " u.sid, CASE WHEN r.role = u.role11 AND r.org_sid = split_part(u.orgs11, ',', 1)"
            " THEN 'primary' ELSE 'secondary' END, r.role, '', '', r.org_sid, ''"
            " FROM x_role r JOIN x_user u ON u.id = r.user_id"
            # A student with no account has no role_assignment: their student role.
            " UNION ALL SELECT sid || ':student:' || primary_org, '', '', sid, 'primary',"
            " 'student', '', '', primary_org, '' FROM x_user WHERE id IS NULL ORDER BY 1",
        )
    await ex.demographics()
    await ex.write(
        "enrollments.csv",
        HEADERS["enrollments.csv"],
        f"SELECT {_SID.format(alias='e', kind='enrollment')}, '', '', c.sid, c.school_sid,"
        " st.sid, 'student', 'false', e.begins_on, e.ends_on FROM enrollment e"
        " JOIN x_class c ON c.id = e.class_id JOIN x_student st ON st.id = e.student_id"
        f" UNION ALL SELECT {_SID.format(alias='t', kind='teaching')}, '', '', c.sid,"
        " c.school_sid, u.sid, 'teacher', CASE WHEN t.is_primary THEN 'true' ELSE 'false' END,"
        " t.starts_on, t.ends_on FROM teaching_assignment t JOIN x_class c ON c.id = t.class_id"
        " JOIN x_user u ON u.id = t.staff_user_id ORDER BY 1",
    )


async def _write_classes(ex: _Exporter) -> None:
    for name, header, sql in (
        (
            "courses.csv",
            HEADERS["courses.csv"],
            "SELECT sid || '-course', '', '', '', title, code, grade_levels, school_sid,"
            " subject, '' FROM x_class ORDER BY sid",
        ),
        (
            "classes.csv",
            HEADERS["classes.csv"],
            "SELECT sid, '', '', title, grade_levels, sid || '-course', code, class_type, '',"
            " school_sid, term_sid, subject, '', array_to_string(periods, ',') FROM x_class"
            " ORDER BY sid",
        ),
    ):
        text, writer = ex._open(name, header)
        count = 0
        with text:
            async for r in ex._cursor(sql):
                values = ["" if v is None else v for v in r.values()]
                grades = header.index("grades")
                values[grades] = _grades(r["grade_levels"])
                writer.writerow([str(v) for v in values])
                count += 1
        ex.rows[name] = count
