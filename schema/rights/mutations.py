"""`recordConsent`, `optOutOfDirectory`, `fileDataRequest`, `resolveDataRequest`.

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
from app.rights import fulfil
from schema.context import Info
from schema.errors import Forbidden, UserError
from schema.relay import from_global_id
from schema.rights.types import Consent, DataRequest, DataRequestStatus
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


@strawberry.input
class FileDataRequestInput:
    student_id: strawberry.ID
    kind: models.DataRequestKind
    details: str | None = None


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
                request = await writes.file_data_request(
                    connection,
                    context.actor(),
                    student_id=pk,
                    kind=input.kind.value,
                    details=input.details,
                )
        except writes.WriteRefused as refusal:
            return DataRequestPayload(user_errors=[UserError.of(refusal)])
        return DataRequestPayload(data_request=DataRequest.from_row(request))

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
