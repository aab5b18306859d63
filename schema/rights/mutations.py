"""`recordConsent`, `optOutOfDirectory`, `fileDataRequest`, `resolveDataRequest`, `addStatement`.

The policy lets a guardian (and a student for themself) write these; the rule that a student's
own rights begin at 18 (FERPA's "eligible student") is checked here, as is consent to guardian
access after 18, which only the student can give.
"""

from __future__ import annotations

import datetime

import strawberry

from app import models, writes
from app.consent.rules import age_on
from app.models import Role
from app.policy import bit
from app.rights import amend, fulfil, statements
from app.rights.deidentify import refuse_if_deidentified
from app.rights.validate import AmendableField, InvalidChanges
from schema.context import Info
from schema.errors import Forbidden, UserError
from schema.relay import from_global_id
from schema.rights.types import Consent, DataRequest, DataRequestStatus, Statement
from schema.students.mutations import writable_student

ELIGIBLE_AGE = 18
_SELF = bit(Role.STUDENT, "self")


@strawberry.input
class RecordConsentInput:
    student_id: strawberry.ID
    kind: models.ConsentKind
    granted: bool


@strawberry.type
class ConsentPayload:
    consent: Consent | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class OptOutOfDirectoryInput:
    student_id: strawberry.ID
    opt_out: bool = strawberry.field(default=True, description="False opts back in.")


@strawberry.type
class OptOutPayload:
    student_id: strawberry.ID | None = None
    directory_opt_out: bool | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A value proposed for one field of the student's record.")
class ProposedChangeInput:
    field: AmendableField
    value: str | None = strawberry.field(
        default=None,
        description="The value as it should read (a date as YYYY-MM-DD); null clears an "
        "optional field (preferred name, date of birth, email, phone).",
    )


@strawberry.input
class FileDataRequestInput:
    student_id: strawberry.ID
    kind: models.DataRequestKind
    details: str | None = None
    changes: list[ProposedChangeInput] | None = strawberry.field(
        default=None,
        description="For AMEND (required there, refused for other kinds): each field once, with "
        "its proposed value, checked now as it will be stored.",
    )


@strawberry.input
class AddStatementInput:
    data_request_id: strawberry.ID = strawberry.field(
        description="The denied amendment request the statement answers."
    )
    body: str = strawberry.field(description="Why the record is contested; 1 to 5000 characters.")


@strawberry.type
class StatementPayload:
    statement: Statement | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def change_errors(invalid: InvalidChanges, name: str = "changes") -> list[UserError]:
    """One userError per refused value, its path naming the entry (`changes.0.value`)."""
    return [
        UserError(message=str(refusal), code=refusal.code, field=[name, str(index), "value"])
        for index, refusal in invalid.refusals
    ]


@strawberry.input
class ResolveDataRequestInput:
    id: strawberry.ID
    status: DataRequestStatus = strawberry.field(description="COMPLETED or DENIED.")
    resolution: str = strawberry.field(description="What was done, or why it was denied.")
    confirm: bool = strawberry.field(
        default=False,
        description="Completing a DELETE request removes the student's identity for good: "
        "read `DataRequest.deletionPreview`, then confirm.",
    )


@strawberry.type
class DataRequestPayload:
    data_request: DataRequest | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _check_eligible(hit: int, born: datetime.date | None, obj: str) -> None:
    """A student acting for themself (no other relation allows it) must be 18."""
    if hit == hit & _SELF and age_on(born, datetime.datetime.now(datetime.UTC).date()) < 18:
        raise Forbidden(
            f"a student exercises {obj} rights from age {ELIGIBLE_AGE}; until then a guardian does",
            reason="not an eligible student",
        )


@strawberry.type
class RightsMutation:
    @strawberry.mutation(description="A guardian (or an eligible student) records consent.")
    async def record_consent(self, info: Info, input: RecordConsentInput) -> ConsentPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, pk = from_global_id(input.student_id, "Student")
        try:
            async with context.db() as connection:
                row, hit = await writable_student(context, viewer, connection, pk, "Consent")
                _check_eligible(hit, row.date_of_birth, "consent")
                if input.kind is models.ConsentKind.GUARDIAN_ACCESS and not hit & _SELF:
                    raise writes.WriteRefused(
                        "only the student can consent to their guardians' access after 18",
                        "STUDENT_ONLY",
                        "kind",
                    )
                consent = await writes.record_consent(
                    connection,
                    context.actor(),
                    student_id=pk,
                    kind=input.kind.value,
                    granted=input.granted,
                )
        except writes.WriteRefused as refusal:
            return ConsentPayload(user_errors=[UserError.of(refusal)])
        return ConsentPayload(consent=Consent.from_row(consent))

    @strawberry.mutation(
        description="Withhold (or release again) the student's directory information: "
        "classmates then no longer see them."
    )
    async def opt_out_of_directory(
        self, info: Info, input: OptOutOfDirectoryInput
    ) -> OptOutPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, pk = from_global_id(input.student_id, "Student")
        try:
            async with context.db() as connection:
                row, hit = await writable_student(
                    context, viewer, connection, pk, "DirectoryOptOut"
                )
                _check_eligible(hit, row.date_of_birth, "directory")
                await writes.set_directory_opt_out(
                    connection,
                    context.actor(),
                    student_id=pk,
                    opt_out=input.opt_out,
                )
        except writes.WriteRefused as refusal:
            return OptOutPayload(user_errors=[UserError.of(refusal)])
        return OptOutPayload(student_id=input.student_id, directory_opt_out=input.opt_out)

    @strawberry.mutation(description="Ask to inspect, amend or delete the student's records.")
    async def file_data_request(
        self, info: Info, input: FileDataRequestInput
    ) -> DataRequestPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, pk = from_global_id(input.student_id, "Student")
        try:
            async with context.db() as connection:
                row, hit = await writable_student(context, viewer, connection, pk, "DataRequest")
                _check_eligible(hit, row.date_of_birth, "records")
                await refuse_if_deidentified(connection, pk)
                proposal = None
                if input.kind is models.DataRequestKind.AMEND:
                    proposal = await amend.propose(
                        connection,
                        student_id=pk,
                        changes=[(c.field, c.value) for c in input.changes or []],
                    )
                elif input.changes:
                    raise writes.WriteRefused(
                        "only an amendment request proposes changes",
                        "CHANGES_NOT_ALLOWED",
                        "changes",
                    )
                request = await writes.file_data_request(
                    connection,
                    context.actor(),
                    student_id=pk,
                    kind=input.kind.value,
                    details=input.details,
                )
                if proposal:
                    request = await amend.keep(connection, request_id=request.id, proposal=proposal)
        except InvalidChanges as invalid:
            return DataRequestPayload(user_errors=change_errors(invalid))
        except writes.WriteRefused as refusal:
            return DataRequestPayload(user_errors=[UserError.of(refusal)])
        return DataRequestPayload(data_request=DataRequest.from_row(request))

    @strawberry.mutation(
        description="After an amendment is denied, the requester (a guardian with rights, or the "
        "eligible student) places a statement in the record saying why they disagree."
    )
    async def add_statement(self, info: Info, input: AddStatementInput) -> StatementPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, pk = from_global_id(input.data_request_id, "DataRequest")
        try:
            async with context.db() as connection:
                try:
                    request = await writes.data_request(
                        connection, request_id=pk, district_id=viewer.district_id
                    )
                except writes.WriteRefused as refusal:
                    raise writes.WriteRefused(str(refusal), refusal.code, "dataRequestId") from None
                if not viewer.mask(request.student_id, request.school_id):
                    # A request about a student unrelated to the viewer is not theirs to see.
                    raise writes.WriteRefused("no such data request", "NOT_FOUND", "dataRequestId")
                row, hit = await writable_student(
                    context, viewer, connection, request.student_id, "DataRequest"
                )
                _check_eligible(hit, row.date_of_birth, "records")
                statement = await statements.add(
                    connection, context.actor(), request=request, body=input.body
                )
        except writes.WriteRefused as refusal:
            return StatementPayload(user_errors=[UserError.of(refusal)])
        return StatementPayload(statement=Statement.from_row(statement))

    @strawberry.mutation(description="An administrator completes or denies a data request.")
    async def resolve_data_request(
        self, info: Info, input: ResolveDataRequestInput
    ) -> DataRequestPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, pk = from_global_id(input.id, "DataRequest")
        try:
            if input.status is DataRequestStatus.OPEN:
                raise writes.WriteRefused("resolve as COMPLETED or DENIED", "INVALID", "status")
            async with context.db() as connection:
                current = await writes.data_request(
                    connection, request_id=pk, district_id=viewer.district_id
                )
                if not context.write_hit("DataRequest.resolve", school_id=current.school_id):
                    raise writes.WriteRefused("no such data request", "NOT_FOUND", "id")
                if current.status != DataRequestStatus.OPEN.value:
                    raise writes.WriteRefused(
                        "the request is already resolved", "ALREADY_RESOLVED", "id"
                    )
                if input.status is DataRequestStatus.COMPLETED:
                    await fulfil.complete(
                        connection, context.actor(), current, confirm=input.confirm
                    )
                row = await writes.resolve_data_request(
                    connection,
                    context.actor(),
                    data_request_id=pk,
                    status=input.status.value,
                    resolution=input.resolution,
                )
        except writes.WriteRefused as refusal:
            return DataRequestPayload(user_errors=[UserError.of(refusal)])
        return DataRequestPayload(data_request=DataRequest.from_row(row))
