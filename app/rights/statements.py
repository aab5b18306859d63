"""Statements (FERPA 34 CFR 99.21(b)): after an amendment is denied, the requester may place a
statement in the record saying why they disagree. It is kept with the record for as long as the
contested fields are (all of them, newest first) and shown wherever those fields are disclosed
(`Student.statements`). The audit names the request and the fields, never the text.

    row = await statements.add(connection, actor, request=denied_amendment_row, body="...")
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.encryption import decrypt_row, writing_keyring
from app.rights import amend
from app.writes import Actor, WriteRefused

MAX_BODY = 5000


async def add(
    connection: AsyncConnection, actor: Actor, *, request: Row[Any], body: str
) -> Row[Any]:
    """Add a statement about the fields of `request` (a denied amendment); the stored row."""
    if request.kind != "amend" or request.status != "denied":
        raise WriteRefused(
            "a statement answers an amendment request that was denied",
            "NOT_A_DENIED_AMENDMENT",
            "dataRequestId",
        )
    body = body.strip()
    if not body:
        raise WriteRefused("a statement needs its text", "BODY_REQUIRED", "body")
    if len(body) > MAX_BODY:
        raise WriteRefused(f"a statement has at most {MAX_BODY} characters", "TOO_LONG", "body")
    fields = [change.field.value for change in amend.load(request.changes)]
    statement_id = await writes._next_id(connection, "student_statement")
    ring = await writing_keyring(connection)
    row = await writes._returning(
        connection,
        "INSERT INTO student_statement"
        " (id, district_id, student_id, data_request_id, fields, body, author_user_id)"
        " VALUES (:id, :district_id, :student_id, :request_id, :fields, :body, :author)"
        " RETURNING *",
        id=statement_id,
        district_id=actor.district_id,
        student_id=request.student_id,
        request_id=request.id,
        fields=fields,
        body=ring.encrypt("student_statement", "body", statement_id, body),
        author=actor.user_id,
    )
    await writes.audit(
        connection,
        actor,
        "add_statement",
        "StudentStatement",
        statement_id,
        {"dataRequest": request.id, "student": request.student_id, "fields": fields},
    )
    return await decrypt_row(connection, "student_statement", row)
