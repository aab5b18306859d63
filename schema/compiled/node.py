"""`node(id)`: the id's type picks the object it compiles as (`coverage.ABSTRACT`) and that type's
root answers it; an id of any other type, or no id at all, falls back (the resolver answers)."""

from __future__ import annotations

from typing import Any

from schema.compiled.base import Fallback, Root, argument
from schema.compiled.classes import class_by_global_id
from schema.compiled.shape import Selected
from schema.compiled.students import student_by_global_id
from schema.context import Context
from schema.relay import from_global_id

BY_TYPE: dict[str, Root] = {"Student": student_by_global_id, "Class": class_by_global_id}


async def node(context: Context, selected: Selected, variables: dict[str, Any]) -> Any:
    try:
        kind, _ = from_global_id(argument(selected, "id", variables))
    except Exception as refused:
        raise Fallback("refused") from refused
    variant, answer = selected.variants.get(kind), BY_TYPE.get(kind)
    if variant is None or answer is None:
        raise Fallback(kind)
    return await answer(context, variant, variables)
