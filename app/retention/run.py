"""Carrying a retention plan out: in batches, one transaction per batch, each action audited.

A district is worked on by one run at a time: the run holds a session advisory lock per district
(`pg_try_advisory_lock`) and skips a district another run holds. Inside, every batch acts only
on what is still due (rows not yet de-identified, locked `FOR UPDATE`), so running twice, or
again after an interruption, does nothing twice.

    summary = await carry_out(connection, plan, progress=lambda rule, done, total: ...)
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.retention.rules import COPPA, ENDED, EXPORTS, GRANTS, Plan
from app.rights.deidentify import deidentify_accounts, deidentify_students, erase_collected_content

BATCH = 1000
# The first key of the two-key advisory lock; the second is the district id.
LOCK_CLASS = 0x5C4E7E
Progress = Callable[[str, int, int], None]
_T = TypeVar("_T")

_ACCOUNTS_SQL = (
    "SELECT u.id FROM app_user u WHERE u.district_id = :d AND u.deidentified_at IS NULL"
    " AND NOT EXISTS (SELECT FROM student s WHERE s.user_id = u.id) ORDER BY u.id LIMIT :n"
)
_ARCHIVE_GRANTS = (
    "UPDATE legitimate_interest_grant SET archived_at = now()"
    " WHERE id = ANY(:ids) AND archived_at IS NULL RETURNING id"
)
_PURGE_EXPORTS = (
    "UPDATE data_export SET content = NULL, purged_at = coalesce(purged_at, now())"
    " WHERE id = ANY(:ids) AND content IS NOT NULL RETURNING id"
)


RULE_ORDER = (ENDED, COPPA, GRANTS, EXPORTS)


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Summary:
    """What a run did: objects acted on per rule, rows changed by kind, districts skipped."""

    request_id: str
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULE_ORDER, 0))
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped_districts: list[int] = field(default_factory=list)


class _Run:
    def __init__(
        self, connection: AsyncConnection, plan: Plan, progress: Progress, batch: int
    ) -> None:
        self.connection = connection
        self.plan = plan
        self.progress = progress
        self.batch = batch
        self.totals = plan.counts()
        self.summary = Summary(request_id=f"retention-{uuid.uuid4()}")

    def _did(self, rule: str, n: int) -> None:
        self.summary.done[rule] += n
        self.progress(rule, self.summary.done[rule], self.totals[rule])

    async def audit(
        self, district_id: int, action: str, target: str, ids: Sequence[int], rule: str
    ) -> None:
        """One audit event per object acted on, in one statement; no actor (the system)."""
        if not ids:
            return
        await self.connection.execute(
            text(
                "INSERT INTO audit_event"
                " (district_id, actor_user_id, action, target_type, target_id, details,"
                " request_id) SELECT :district_id, NULL, :action, :target, t.id,"
                " CAST(:details AS jsonb), :request_id FROM unnest(CAST(:ids AS bigint[])) AS t(id)"
            ),
            {
                "district_id": district_id,
                "action": action,
                "target": target,
                "ids": list(ids),
                "details": json.dumps({"rule": rule, "by": "retention"}),
                "request_id": self.summary.request_id,
            },
        )

    async def _advisory(self, function: str, district_id: int) -> bool:
        result = await self.connection.execute(
            text(f"SELECT {function}(:k, CAST(:d AS integer))"),
            {"k": LOCK_CLASS, "d": district_id},
        )
        await self.connection.commit()
        return bool(result.scalar())

    async def district(self, district_id: int, students: dict[str, list[int]]) -> None:
        if not await self._advisory("pg_try_advisory_lock", district_id):
            self.summary.skipped_districts.append(district_id)
            return
        try:
            await self._ended(district_id, students.get(ENDED, []))
            await self._coppa(district_id, students.get(COPPA, []))
            for rule, pairs, sql, action, target in (
                (
                    GRANTS,
                    self.plan.grants,
                    _ARCHIVE_GRANTS,
                    "archive_grant",
                    "LegitimateInterestGrant",
                ),
                (EXPORTS, self.plan.exports, _PURGE_EXPORTS, "purge_export", "DataExport"),
            ):
                ids = [item for item, district in pairs if district == district_id]
                for chunk in _chunks(ids, self.batch):
                    async with self.connection.begin():
                        result = await self.connection.execute(text(sql), {"ids": list(chunk)})
                        changed = list(result.scalars())
                        await self.audit(district_id, action, target, changed, rule)
                    self._did(rule, len(changed))
        finally:
            await self._advisory("pg_advisory_unlock", district_id)

    async def _ended(self, district_id: int, ids: list[int]) -> None:
        for chunk in _chunks(ids, self.batch):
            async with self.connection.begin():
                done = await deidentify_students(self.connection, chunk, district_id=district_id)
                await self.audit(
                    district_id, "deidentify_student", "Student", done.student_ids, ENDED
                )
            for name, n in done.counts.items():
                self.summary.rows[name] += n
            self._did(ENDED, len(done.student_ids))
        if not any(d.id == district_id for d in self.plan.districts):
            return
        while True:
            async with self.connection.begin():
                found = await self.connection.execute(
                    text(_ACCOUNTS_SQL), {"d": district_id, "n": self.batch}
                )
                users = list(found.scalars())
                changed = await deidentify_accounts(self.connection, users, district_id=district_id)
                await self.audit(district_id, "deidentify_account", "User", changed, ENDED)
            self.summary.rows["accounts"] += len(changed)
            self._did(ENDED, len(changed))
            if len(users) < self.batch or not changed:
                return

    async def _coppa(self, district_id: int, ids: list[int]) -> None:
        for chunk in _chunks(ids, self.batch):
            async with self.connection.begin():
                erased = await erase_collected_content(self.connection, chunk)
                await self.audit(district_id, "erase_collected_content", "Student", chunk, COPPA)
            for name, n in erased.items():
                self.summary.rows[name] += n
            self._did(COPPA, len(chunk))


async def carry_out(
    connection: AsyncConnection,
    plan: Plan,
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> Summary:
    """Do what `plan` lists, district by district. `connection` must not be in a transaction:
    each batch commits on its own."""
    run = _Run(connection, plan, progress or (lambda rule, done, total: None), batch)
    students: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for s in plan.students:
        students[s.district_id][s.rule].append(s.id)
    district_ids = sorted(
        {d.id for d in plan.districts}
        | set(students)
        | {district for _, district in plan.grants}
        | {district for _, district in plan.exports}
    )
    for district_id in district_ids:
        await run.district(district_id, students[district_id])
    return run.summary
