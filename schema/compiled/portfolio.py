"""`Student.portfolio` in a compiled answer: one JSON sub-select over the student row `s` holding
what the resolver loads — the student's COPPA columns, the portfolio row (`Loaders.portfolio`) and
every item row (`Loaders.portfolio_items`, in its order) — and a render that lets
`schema.students.portfolio` decide, as the resolver does: the field (withheld and redacted when
not allowed), the items released by their visibility and the COPPA rule, the disclosure.

Headline, title and body are encrypted; datetimes are formatted as the resolver's serializer
formats them (`isoformat()` of an aware UTC datetime), whatever the session's time zone.
"""

from __future__ import annotations

import datetime
from typing import Any, NamedTuple

from app import models
from app.encryption import Keyring
from schema.compiled.base import Fallback, blob
from schema.compiled.shape import Selected
from schema.context import Context, StudentRef
from schema.loaders import PORTFOLIO_ITEMS_ORDER
from schema.relay import to_global_id
from schema.students import portfolio as portfolios


class Coppa(NamedTuple):
    """What `coppa_withheld` reads of the student."""

    date_of_birth: datetime.date | None
    coppa_consent: bool


class Item(NamedTuple):
    id: int
    kind: str | None
    title: str | None
    body: str | None
    visibility: str
    created_at: str | None
    updated_at: str | None
    erased_at: str | None


# The item columns, in `Item`'s order. The items' ORDER BY is the loader's, over `portfolio_item`
# alone (its names are that table's columns).
_ITEM = "id, kind, title, body, visibility, created_at, updated_at, erased_at"
SQL = (
    "json_build_array(s.date_of_birth, s.coppa_consent,"  # noqa: S608 (names only)
    " (SELECT json_build_array(p.id, p.headline) FROM portfolio p"
    " WHERE p.student_id = s.id ORDER BY p.id LIMIT 1),"
    f" (SELECT coalesce(json_agg(json_build_array({_ITEM}) ORDER BY {PORTFOLIO_ITEMS_ORDER}),"
    " '[]'::json) FROM portfolio_item WHERE student_id = s.id))"
)


def render(
    context: Context,
    selected: Selected,
    value: list[Any],
    ref: StudentRef,
    ring: Keyring | None,
    path: list[str | int],
) -> dict[str, Any] | None:
    """The portfolio `selected` asks for, decided as `Student.portfolio` decides it."""
    if not portfolios.allowed(context, ref):
        context.redact_at(path, "Student.portfolio", portfolios.WITHHELD)
        return None
    born, consent, portfolio, rows = value
    try:
        coppa = Coppa(None if born is None else datetime.date.fromisoformat(born), bool(consent))
    except ValueError as error:  # 'infinity', a year past 9999: the resolver's to answer
        raise Fallback("date") from error
    items = portfolios.released_items(context, ref, coppa, portfolio, [Item(*r) for r in rows])
    if items is None or portfolio is None:
        return None
    if ring is None:
        raise Fallback("no keyring")
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        name = field.name
        if name == "__typename":
            out[key] = "Portfolio"
        elif name == "id":
            out[key] = to_global_id("Portfolio", portfolio[0])
        elif name == "headline":
            out[key] = ring.decrypt("portfolio", "headline", portfolio[0], blob(portfolio[1]))
        else:  # items
            out[key] = [_item(field, item, ring) for item in items]
    return out


def _item(selected: Selected, item: Item, ring: Keyring) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        name = field.name
        if name == "__typename":
            out[key] = "PortfolioItem"
        elif name == "id":
            out[key] = to_global_id("PortfolioItem", item.id)
        elif name in ("title", "body"):
            out[key] = ring.decrypt("portfolio_item", name, item.id, blob(getattr(item, name)))
        elif name == "kind":
            out[key] = item.kind
        elif name == "visibility":
            out[key] = models.Visibility(item.visibility).name
        else:  # createdAt, updatedAt, erasedAt
            out[key] = _datetime(getattr(item, _SNAKE[name]))
        if out[key] is None and name in _REQUIRED:
            raise Fallback("null in a non-null field")  # graphql-core's error to report
    return out


_SNAKE = {"createdAt": "created_at", "updatedAt": "updated_at", "erasedAt": "erased_at"}
_REQUIRED = {"kind", "title"}


def _datetime(value: str | None) -> str | None:
    """A timestamptz's JSON text as the resolver serializes it: the UTC datetime's isoformat."""
    if value is None:
        return None
    try:
        return datetime.datetime.fromisoformat(value).astimezone(datetime.UTC).isoformat()
    except ValueError as error:  # 'infinity', a year past 9999: the resolver's to answer
        raise Fallback("datetime") from error
