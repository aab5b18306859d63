"""`updateMyContact`: a student or guardian corrects their own email and phone.

The signed-in user's own account is theirs to correct, as their password is: no relation to a
student decides it. A student's own record (`Student.email`, `Student.phone`) is corrected
with it where the policy lets them write `Contact` for that record (`p, student, self`); a
guardian asks for a correction of their child's record with an amendment request (AMEND), which
the school reviews.
"""

from __future__ import annotations

import strawberry
from strawberry import UNSET

from app import writes
from app.rights import contact
from app.rights.validate import AmendableField, InvalidChanges
from schema.context import Info
from schema.errors import UserError
from schema.relay import from_global_id, to_global_id
from schema.students.mutations import writable_student


@strawberry.input
class UpdateMyContactInput:
    email: str | None = strawberry.field(
        default=UNSET, description="The new email; null (or blank) removes it; omitted: kept."
    )
    phone: str | None = strawberry.field(
        default=UNSET, description="The new phone number; null (or blank) removes it."
    )
    student_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The student record to correct with the account: a student's own, which "
        "is also what omitting it corrects for a student.",
    )


@strawberry.type(description="Contact details as they now read.")
class Contact:
    email: str | None
    phone: str | None
    student_id: strawberry.ID | None = strawberry.field(
        description="The student record corrected with the account, if any."
    )


@strawberry.type
class ContactPayload:
    contact: Contact | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ContactMutation:
    @strawberry.mutation(
        description="Correct your own email and phone number: your account's and, for a "
        "student, your record's (audited with before and after). A student under 13 without "
        "parental consent may remove contact details but not give new ones."
    )
    async def update_my_contact(self, info: Info, input: UpdateMyContactInput) -> ContactPayload:
        context = info.context
        viewer = await context.require_viewer()
        given = {
            field: value
            for field, value in (
                (AmendableField.EMAIL, input.email),
                (AmendableField.PHONE, input.phone),
            )
            if value is not UNSET
        }
        student_pk = viewer.student_id
        if input.student_id is not None:
            _, student_pk = from_global_id(input.student_id, "Student")
        try:
            values = contact.clean(given)
            async with context.db() as connection:
                record = account = None
                if student_pk is not None:
                    row, _ = await writable_student(
                        context, viewer, connection, student_pk, "Contact"
                    )
                    if student_pk == viewer.student_id:
                        contact.require_consent_to_collect(
                            values, born=row.date_of_birth, coppa_consent=row.coppa_consent
                        )
                    record = await contact.correct(
                        connection,
                        context.actor(),
                        table="student",
                        row_id=student_pk,
                        values=values,
                    )
                if student_pk is None or student_pk == viewer.student_id:
                    account = await contact.correct(
                        connection,
                        context.actor(),
                        table="app_user",
                        row_id=viewer.user_id,
                        values=values,
                    )
        except InvalidChanges as invalid:
            return ContactPayload(
                user_errors=[
                    UserError(message=str(r), code=r.code, field=[contact.FIELDS[i].value])
                    for i, r in invalid.refusals
                ]
            )
        except writes.WriteRefused as refusal:
            return ContactPayload(user_errors=[UserError.of(refusal)])
        shown = record or account
        if shown is None:  # neither a student record nor an account: cannot happen
            raise RuntimeError("nothing was corrected")
        return ContactPayload(
            contact=Contact(
                email=shown.email,
                phone=shown.phone,
                student_id=to_global_id("Student", student_pk) if student_pk is not None else None,
            )
        )
