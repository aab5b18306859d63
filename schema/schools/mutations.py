"""`updateDistrictSettings`: a district administrator changes the district's privacy settings.

Who may is policy (`DistrictSettings, write` for a role held district-wide); the values are
checked by `app.districts.settings`.
"""

from __future__ import annotations

import datetime
from typing import Any

import strawberry

from app import writes
from app.districts import settings
from schema.context import Info
from schema.errors import Forbidden, UserError
from schema.schools.types import District


@strawberry.input
class UpdateDistrictSettingsInput:
    """Only the settings given change; a date set to null is cleared."""

    data_request_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 45 (FERPA: 45 at most)."
    )
    contract_ends_on: datetime.date | None = strawberry.field(
        default=strawberry.UNSET, description="Null: no end date."
    )
    subscription_ends_on: datetime.date | None = strawberry.field(
        default=strawberry.UNSET, description="Null: no end date."
    )
    consent_notice_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 to 365."
    )
    require_mfa: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Whether staff with an administrator or coordinator role must sign in with "
        "a second factor.",
    )


@strawberry.type
class DistrictSettingsPayload:
    district: District | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DistrictMutation:
    @strawberry.mutation(
        description="A district administrator changes the district's settings (audited, with "
        "the values before and after)."
    )
    async def update_district_settings(
        self, info: Info, input: UpdateDistrictSettingsInput
    ) -> DistrictSettingsPayload:
        context = info.context
        viewer = await context.require_viewer()
        if not context.district_hit("DistrictSettings", act="write"):
            raise Forbidden(
                "only the district's administrators change its settings", reason="no policy line"
            )
        changes: dict[str, Any] = {
            column: getattr(input, column)
            for column in settings.COLUMNS
            if getattr(input, column) is not strawberry.UNSET
        }
        try:
            async with context.db() as connection:
                row = await settings.update(
                    connection, context.actor(), district_id=viewer.district_id, changes=changes
                )
        except writes.WriteRefused as refusal:
            return DistrictSettingsPayload(user_errors=[UserError.of(refusal)])
        return DistrictSettingsPayload(district=District.from_row(row))
