"""Who may run reports, and over which schools (SPEC §8)."""

from __future__ import annotations

from app.models import Role
from app.relations import RowScope, Viewer
from app.reports.definitions import ReportSpec

# Roles that may run and save reports; school-scoped holders see their schools only (SPEC §8).
REPORT_ROLES = (Role.DISTRICT_ADMIN, Role.REPORTING, Role.SCHOOL_ADMIN, Role.COORDINATOR)


def report_scope(viewer: Viewer) -> RowScope | None:
    """The schools whose students the viewer's reports cover; None when they may run none."""
    schools: set[int] = set()
    whole = False
    for role in REPORT_ROLES:
        role_schools, district_wide = viewer.role_schools(role)
        schools |= role_schools
        whole = whole or district_wide
    if not (schools or whole):
        return None
    return RowScope(viewer.district_id, frozenset(), frozenset(schools), whole)


def schools_outside(spec: ReportSpec, scope: RowScope) -> set[int]:
    """The schools `spec` filters on that the scope does not cover (refused, not ignored)."""
    return set() if scope.whole_district else set(spec.filter.school_ids) - scope.school_ids
