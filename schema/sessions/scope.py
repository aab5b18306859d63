"""Whose sessions the viewer may list or revoke: their own always; an administrator's by the
policy lines of `Session` (list) and `Session.revoke` (revoke) — at the schools where a line
allows them, or the whole district when it allows them district-wide."""

from __future__ import annotations

from app.relations import Viewer
from app.sessions.store import Owner, Scope
from schema.context import Context
from schema.errors import Forbidden

LIST = "Session"
REVOKE = "Session.revoke"


def _allowed(context: Context, viewer: Viewer, obj: str, act: str) -> tuple[bool, frozenset[int]]:
    """Whether `obj` is allowed district-wide, and at which schools otherwise."""
    allowed = context.policy.write_mask(obj) if act == "write" else context.decide(obj)
    if viewer.district_mask & allowed:
        return True, frozenset()
    schools = frozenset(
        school
        for role, school in viewer.roles
        if school is not None and viewer.mask(0, school) & allowed
    )
    return False, schools


def list_scope(context: Context, viewer: Viewer) -> Scope:
    """The sessions an administrator lists; Forbidden for anyone else."""
    whole, schools = _allowed(context, viewer, LIST, "read")
    if whole:
        return Scope(viewer.district_id, None)
    if not schools:
        raise Forbidden(
            "only administrators list the sessions of other users", reason="not an administrator"
        )
    return Scope(viewer.district_id, schools)


def may_revoke(context: Context, viewer: Viewer, owner: Owner) -> bool:
    """Own sessions, or an administrator's for a user in their scope (a user who holds a role
    across the district is in a district administrator's scope only)."""
    if owner.district_id != viewer.district_id:
        return False
    if owner.user_id == viewer.user_id:
        return True
    whole, schools = _allowed(context, viewer, REVOKE, "write")
    if whole:
        return True
    return not owner.district_wide and bool(owner.school_ids & schools)
