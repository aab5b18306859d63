"""What completing a data request does, by its kind, in the transaction that resolves it.

The GraphQL mutation (`resolveDataRequest`) decides who may resolve; this module carries the
request out. Completing applies the right (a bundle built, values amended, an identity removed,
directory information withheld); denying records the reason and, for an amendment, opens the
requester's right to add a statement (app/rights/statements.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.rights import amend, inspect
from app.rights.deidentify import refuse_if_deidentified
from app.rights.deletion import complete_deletion
from app.writes import Actor


async def complete(
    connection: AsyncConnection, actor: Actor, request: Row[Any], *, confirm: bool
) -> None:
    """Carry out `request` (a `data_request` row, still open)."""
    # A de-identified student has no record left to inspect, amend or delete.
    await refuse_if_deidentified(connection, request.student_id)
    if request.kind == "inspect":
        await inspect.build_export(connection, actor, request)
    elif request.kind == "amend":
        await amend.apply(connection, actor, request)
    elif request.kind == "directory_opt_out":
        await writes.set_directory_opt_out(
            connection, actor, student_id=request.student_id, opt_out=True
        )
    elif request.kind == "delete":
        await complete_deletion(connection, actor, request, confirm=confirm)
