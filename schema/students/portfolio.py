"""What a viewer sees of a student's portfolio: the field (`Student.portfolio`), then each item by
its visibility, and the COPPA rule. Decided here for every path that shows a portfolio — the
resolvers (`Student.portfolio`, the Portfolio and PortfolioItem nodes) and the compiled path — so
they cannot disagree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from app.consent.rules import coppa_withheld
from schema.context import Context, StudentRef

# The reason a withheld `Student.portfolio` gives.
WITHHELD = "no policy line allows this relation"
VISIBILITIES = ("PRIVATE", "TEACHERS", "COORDINATOR")


class Item(Protocol):
    @property
    def visibility(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Item)


def allowed(context: Context, student: StudentRef) -> bool:
    """Whether the viewer may read the student's portfolio at all (nothing is recorded: what is
    read is the items `released_items` releases)."""
    return bool(student.mask & context.decide("Student.portfolio"))


def released_items(
    context: Context,
    student: StudentRef,
    coppa: Any,
    portfolio: Any | None,
    items: Iterable[ItemT],
) -> list[ItemT] | None:
    """The items of the student's portfolio the viewer may see by their visibility, in `items`'
    order, the read recorded with their combined hit; None when the student has no portfolio or
    the viewer may not read it (no redaction: the field makes it).

    `coppa`: what `coppa_withheld` reads of the student (`date_of_birth`, `coppa_consent`).
    """
    if portfolio is None or not allowed(context, student):
        return None
    # Collected from an under-13 student without parental consent in force: no longer used
    # (app/consent/rules.py), so released only where the policy releases such items.
    withheld = (
        student.mask & context.decide("PortfolioItem.WITHOUT_CONSENT")
        if coppa_withheld(coppa)
        else -1
    )
    released = {
        v: hit
        for v in VISIBILITIES
        if (hit := student.mask & context.decide(f"PortfolioItem.{v}") & withheld)
    }
    shown = [item for item in items if item.visibility in released]
    hit = 0
    for item in shown:
        hit |= released[item.visibility]
    if hit:
        context.record_disclosure(student, "Student.portfolio", hit)
    return shown
