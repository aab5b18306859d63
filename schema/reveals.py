"""What each filter argument and each list field of the schema reveals, and the two checks that
follow from it.

A filter reveals, of every row it keeps or drops, the value it compares: `students(filter:
{classId})` says of each student whether they are enrolled in that class. A list reveals, of every
row it shows, what links the row to its parent: a class's roster says that each student on it is
enrolled in the class. So both are checked against the policy like the field they reveal
(`Student.classes`, or `Student.classes@own_classes` in a class the viewer teaches):

- a **filter** is used only if the viewer may read what it reveals for *every* student they could
  list, else it is refused (`FORBIDDEN`). The decision looks at the viewer's possible (role,
  relation) pairs and at the classes they teach, never at the row the value names, so a class
  that does not exist, or is in another district, is refused exactly like one the viewer may not
  read;
- a **list** shows only the rows whose relation to the viewer lets them read what it reveals: the
  scope is narrowed in SQL (`scope_for`), so counts and pages stay correct.

Every filter argument and every list field of the schema has one entry in `REVEALS`, which the
resolvers read; `tests/test_filter_scope.py` walks the schema and fails on one that has none.

```python
reveals.require_filter(context, "StudentFilter.classId", class_id=42)  # or Forbidden
scope, own_scope = reveals.scope_for(context, viewer, "Class.students")
```
"""

from __future__ import annotations

from dataclasses import dataclass

from app import reads
from app.relations import RowScope, Viewer
from schema.context import Context
from schema.errors import Forbidden

OWN_CLASSES = "@own_classes"


@dataclass(frozen=True)
class Reveal:
    """What one filter argument or list field discloses.

    `objects`: the policy objects (`Student.gender`) the viewer must be allowed to read; none when
    it discloses no student's field (see `note`). `of_class`: what is revealed belongs to one
    class (an enrollment, a mark), so `<object>@own_classes` also allows it in a class the viewer
    teaches. `act`: `write` for objects the viewer acts on (`DataRequest.resolve`).
    """

    note: str
    objects: tuple[str, ...] = ()
    of_class: bool = False
    act: str = "read"


def _student(*objects: str, of_class: bool = False, note: str = "") -> Reveal:
    return Reveal(note or "a field of each student kept or shown", objects, of_class)


PAGE = Reveal("how many rows, not which")
CURSOR = Reveal("a position after a row already listed (keyset pagination)")
VALUE = Reveal("values of an object whose own access is already decided")
PAYLOAD = Reveal("why the caller's own input was refused")
ORGANISATIONAL = Reveal("organisational data of the viewer's district (schools, classes, staff)")
AGGREGATE = Reveal(
    "a de-identified aggregate over the viewer's report scope; small cells are suppressed"
    " (docs/reports.md)"
)
ENROLLMENT = _student("Student.classes", of_class=True, note="each student's enrollment")

REVEALS: dict[str, Reveal] = {
    # --- students ---------------------------------------------------------------------------
    "Query.students": Reveal("students related to the viewer (the row scope, SPEC §6)"),
    "Query.students(first)": PAGE,
    "Query.students(after)": CURSOR,
    "Query.students(orderBy)": Reveal(
        "the fields each order sorts by (app.reads.STUDENT_ORDERS): checked like a filter"
    ),
    "StudentFilter.schoolId": _student("Student.school"),
    "StudentFilter.classId": ENROLLMENT,
    "StudentFilter.gradeLevel": _student("Student.gradeLevel"),
    "StudentFilter.nameStartsWith": _student("Student.firstName", "Student.lastName"),
    "StudentFilter.gender": _student("Student.gender"),
    "StudentFilter.ethnicity": _student("Student.ethnicity"),
    "Viewer.children": Reveal("the viewer's own guardian links (guardian_of)"),
    "Viewer.roles": VALUE,
    # --- what hangs off a student: each list is one field, decided by `Context.reveal` -------
    "Student.guardians": _student("Student.guardians"),
    "Student.marks": _student("Student.marks", of_class=True),
    "Student.classes": ENROLLMENT,
    "Student.enrollments": ENROLLMENT,
    "Student.readiness": _student("Student.readiness"),
    "Student.disclosures": _student("Student.disclosures"),
    "Student.disclosures(first)": PAGE,
    "Student.statements": _student(
        "Student.statements",
        note="statements about the student's record, each shown where the viewer may read one"
        " of the fields it contests",
    ),
    "Statement.fields": VALUE,
    "Student.consents": _student("Student.consents"),
    "Portfolio.items": _student("Student.portfolio", note="items released by their visibility"),
    "Disclosure.fieldClasses": VALUE,
    # --- classes ----------------------------------------------------------------------------
    "Query.classes": Reveal(
        "classes (organisational) the viewer teaches, oversees or that are public; a class is"
        " listed because a student attends it only where the viewer may read that enrollment",
        ("Student.classes",),
    ),
    "Query.classes(first)": PAGE,
    "Query.classes(after)": CURSOR,
    "Query.classes(schoolId)": ORGANISATIONAL,
    "Query.classes(mine)": Reveal("the viewer's own teaching assignments"),
    "Class.students": ENROLLMENT,
    "Class.students(first)": PAGE,
    "Class.students(after)": CURSOR,
    "Class.teachers": ORGANISATIONAL,
    "Class.gradeLevels": VALUE,
    "Query.schools": ORGANISATIONAL,
    # --- grants, disclosures, data requests -------------------------------------------------
    "Query.legitimateInterestGrants": Reveal(
        "grants the viewer granted or holds, and for administrators those of their schools"
    ),
    "Query.legitimateInterestGrants(activeOnly)": VALUE,
    "Query.legitimateInterestGrants(includeArchived)": VALUE,
    "Query.disclosures": _student("Student.disclosures", note="each row's student's record"),
    "Query.disclosures(first)": PAGE,
    "Query.disclosures(after)": CURSOR,
    "Query.disclosures(studentId)": _student("Student.disclosures"),
    "Query.disclosures(viewerId)": _student("Student.disclosures"),
    "Query.disclosures(from)": VALUE,
    "Query.disclosures(to)": VALUE,
    "Query.disclosures(fieldClass)": VALUE,
    "Query.auditEvents": Reveal("the district's write audit, for district administrators only"),
    "Query.auditEvents(first)": PAGE,
    "Query.auditEvents(after)": CURSOR,
    **{
        f"Query.auditEvents({name})": VALUE
        for name in ("actorId", "action", "targetType", "targetId", "from", "to")
    },
    "Query.rosterImports": Reveal("the district's roster imports, for district admins only"),
    "Query.rosterImports(first)": PAGE,
    "Query.rosterImports(after)": CURSOR,
    # Messages about the uploaded files (they may quote a value of a row): read only through
    # `rosterImports`, by the district's administrators, who read every student of the district.
    "RosterImport.errors": VALUE,
    "RosterImport.warnings": VALUE,
    "Query.dataRequests": Reveal(
        "requests the viewer filed, and those about students whose requests the policy lets the"
        " viewer resolve",
        ("DataRequest.resolve",),
        act="write",
    ),
    "Query.dataRequests(status)": VALUE,
    "Query.dataRequests(overdue)": VALUE,
    # The request's own proposed values, shown to whoever may see the request; the current
    # value beside each is decided like the field it is.
    "DataRequest.changes": VALUE,
    # Each change shown only where the viewer may read that field of its student.
    "AuditEvent.changes": Reveal(
        "before and after of personal values a write changed, each where the viewer may read"
        " the field of that student (district administrators read accounts')"
    ),
    # Row counts of the request's student, shown only to those who may resolve the request
    # (`DataRequest.resolve`, checked by the field itself); null for everyone else.
    "DataRequest.deletionPreview": VALUE,
    # --- access -----------------------------------------------------------------------------
    "StudentAccess.fields": VALUE,
    "StudentAccess.relations": VALUE,
    "StudentAccess.portfolioVisibilities": VALUE,
    "StudentAccess.writes": VALUE,
    "AccessExplanation.roles": VALUE,
    "AccessExplanation.relations": VALUE,
    # --- reports ----------------------------------------------------------------------------
    **{
        f"ReportFilter.{name}": AGGREGATE
        for name in (
            "schoolIds",
            "gradeLevels",
            "graduationYears",
            "genders",
            "ethnicities",
            "classIds",
            "termIds",
            "indicators",
            "readinessCategories",
            "from",
            "to",
        )
    },
    **{
        f"ReportFilterValues.{name}": VALUE
        for name in (
            "schoolIds",
            "gradeLevels",
            "graduationYears",
            "genders",
            "ethnicities",
            "classIds",
            "termIds",
            "indicators",
            "readinessCategories",
        )
    },
    "Report.cells": AGGREGATE,
    "Report.groupBy": VALUE,
    "ReportCell.dimensions": AGGREGATE,
    "Query.users": Reveal("accounts of the administrator's scope (app/accounts/scope.py)"),
    "Query.users(first)": PAGE,
    "Query.users(after)": CURSOR,
    **{
        f"UserFilter.{name}": VALUE
        for name in ("role", "schoolId", "lastSignInBefore", "locked", "inactive", "search")
    },
    "Account.roles": VALUE,
    "AccessReview.accounts": Reveal("staff and vendor accounts of a school the viewer administers"),
    "AccessReview.studentAccounts": Reveal(
        "student accounts of a school the viewer administers, still active for a record that is not"
    ),
    "AccessReview.flagCounts": VALUE,
    "AccessReviewAccount.roles": VALUE,
    "AccessReviewAccount.grants": VALUE,
    "AccessReviewAccount.flags": VALUE,
    "AccessReviewStudentAccount.flags": VALUE,
    "Query.savedReports": Reveal("report definitions shared in the district (no student data)"),
    "Query.savedReports(first)": PAGE,
    "Query.savedReports(after)": CURSOR,
    "SavedReport.groupBy": VALUE,
    # --- sign-in sessions (docs/sessions.md) ------------------------------------------------
    "Viewer.sessions": Reveal("the viewer's own sign-in sessions"),
    "Query.activeSessions": Reveal(
        "sign-in sessions of the users in an administrator's scope (policy object `Session`)"
    ),
    "Query.activeSessions(first)": PAGE,
    "Query.activeSessions(after)": CURSOR,
    "Query.activeSessions(schoolId)": Reveal(
        "which users of the administrator's scope belong to one of its schools"
    ),
    "Query.activeSessions(userId)": VALUE,
    # The sessions the caller just ended: their ids, decided by the mutation itself.
    "LogoutPayload.revokedSessionIds": VALUE,
    "RevokeAllSessionsPayload.revokedSessionIds": VALUE,
    # --- mutation payloads ------------------------------------------------------------------
    **{
        f"{payload}.userErrors": PAYLOAD
        for payload in (
            "BeginTotpEnrollmentPayload",
            "ChangePasswordPayload",
            "ClassPayload",
            "ConsentPayload",
            "ContactPayload",
            "DataRequestPayload",
            "DeletePortfolioItemPayload",
            "DeleteReportPayload",
            "DistrictSettingsPayload",
            "EnrollmentPayload",
            "GrantPayload",
            "GuardianLinkPayload",
            "IssuePasswordResetPayload",
            "LoginPayload",
            "LogoutPayload",
            "MarkPayload",
            "OptOutPayload",
            "PortfolioItemPayload",
            "RedeemPasswordTokenPayload",
            "ResetTotpPayload",
            "RevokeAllSessionsPayload",
            "RevokeSessionPayload",
            "RolePayload",
            "SaveReportPayload",
            "StatementPayload",
            "StudentPayload",
            "TeachingAssignmentPayload",
            "TotpPayload",
            "UnlockUserPayload",
            "UserPayload",
        )
    },
    "UserError.field": PAYLOAD,
}


def _allowed(context: Context, reveal: Reveal, obj: str, *, own_class: bool) -> int:
    """The pairs allowed to read (or act on) `obj`; with `own_class`, its own-classes variant."""
    if reveal.act == "write":
        return context.policy.write_mask(obj)
    allowed = context.decide(obj)
    if own_class:
        allowed |= context.decide(obj + OWN_CLASSES)
    return allowed


def _unreadable(context: Context, objects: tuple[str, ...]) -> str | None:
    """The first object the viewer may not read for every student they could list."""
    viewer = context._viewer
    if viewer is None or not context.authorization:
        return None
    return next((obj for obj in objects if viewer.possible_mask & ~context.decide(obj)), None)


def require_readable(context: Context, objects: tuple[str, ...], what: str) -> None:
    """Refuse unless the viewer may read every object for every student they could list."""
    obj = _unreadable(context, objects)
    if obj is not None:
        raise Forbidden(
            f"cannot {what} by {obj.split('.', 1)[1]}: you may not read it for every student"
            " you can list",
            fieldClass=context.policy.field_class(obj),
            reason="filtering or ordering would reveal the value",
        )


def require_filter(context: Context, coordinate: str, *, class_id: int | None = None) -> None:
    """Refuse the filter `coordinate` unless the viewer may read what it reveals for every
    student they could list. `class_id`: the class it names, for `of_class` filters."""
    reveal = REVEALS[coordinate]
    viewer = context._viewer
    if viewer is None or not context.authorization:
        return
    own_class = reveal.of_class and class_id in viewer.taught_classes
    for obj in reveal.objects:
        if viewer.possible_mask & ~_allowed(context, reveal, obj, own_class=own_class):
            raise Forbidden(
                f"cannot filter by {coordinate.rsplit('.', 1)[1]}: you may not read it for every"
                " student you can list",
                fieldClass=context.policy.field_class(obj),
                reason="the filter would reveal the value",
            )


def _order_objects(order: str) -> tuple[str, ...]:
    return tuple(f"Student.{name}" for name in reads.STUDENT_ORDERS[order][1])


def require_order(context: Context, order: str) -> None:
    """Refuse an order by a field the viewer may not read for every student they could list."""
    require_readable(context, _order_objects(order), "order")


# A list asked for in no order takes the first of these the viewer may use: by name where they
# may read every listed student's name, else by display name (what a classmate reads), else by
# id, which reveals no field. Never an order that is refused: defaults work for everyone.
DEFAULT_ORDERS = ("NAME", "DISPLAY_NAME", "ID")


def default_order(context: Context) -> str:
    """The order of `students` when none is given, for this viewer."""
    return next(o for o in DEFAULT_ORDERS if _unreadable(context, _order_objects(o)) is None)


def scope_for(context: Context, viewer: Viewer, coordinate: str) -> tuple[RowScope, RowScope]:
    """The rows the list `coordinate` may show: those whose relation lets the viewer read what it
    reveals, and (for `of_class` lists) those readable only in the classes the viewer teaches."""
    reveal = REVEALS[coordinate]
    everything = context.scope(viewer)
    if not context.authorization:
        return everything, everything
    # A list that reveals several objects needs every one of them: the pairs allowed all.
    allowed = own = -1
    for obj in reveal.objects:
        allowed &= _allowed(context, reveal, obj, own_class=False)
        own &= context.decide(obj + OWN_CLASSES) if reveal.of_class else 0
    empty = RowScope(viewer.district_id, frozenset(), frozenset(), whole_district=False)
    return (
        viewer.scope_where(allowed) if allowed else empty,
        viewer.scope_where(own) if own else empty,
    )
