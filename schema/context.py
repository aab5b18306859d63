"""The per-request context: viewer, database transaction, loaders, decisions, redactions and
disclosures. A fresh one is built for every request (a loader shared between requests would
cache one viewer's rows for another).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as _Info

from app import disclosures
from app.auth import TokenSubject
from app.config import Settings
from app.login_limits import LoginLimiter
from app.offload import WorkerPool
from app.policy import CompiledPolicy, pairs_of
from app.relations import RowScope, Viewer, load_viewer
from app.writes import Actor
from schema.errors import Unauthenticated

if TYPE_CHECKING:
    from schema.loaders import Loaders

DIRECTORY = "directory"
# The order in which a disclosure names its basis when several relations allow a read.
_BASIS_ORDER = (
    "self",
    "guardian_of",
    "teacher_of",
    "legitimate_interest",
    "school_official",
    "classmate",
)


class RequestEnded(RuntimeError):
    """The request's transaction has ended; nothing more is read or written in it."""


@dataclass
class Redaction:
    """One error per field path pattern: `students.edges.*.node.email` denied N times, at the
    list positions in `indexes` (one tuple per value, a position per `*`)."""

    path: list[str | int]
    obj: str
    field_class: str | None
    reason: str
    count: int = 0
    indexes: list[tuple[int, ...]] = field(default_factory=list)


@dataclass
class Context:
    request: Request
    response: Response
    settings: Settings
    policy: CompiledPolicy
    engine: AsyncEngine
    subject: TokenSubject | None
    login_limiter: LoginLimiter
    # Password hashes run here, off the event loop.
    hashing: WorkerPool
    # Off only in the benchmark's own entry point, to measure what authorization costs.
    authorization: bool = True
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Set when the compiled path answered the operation (schema/compiled).
    compiled: bool = False
    redactions: dict[tuple[str, ...], Redaction] = field(default_factory=dict)
    disclosures: disclosures.Batch = field(default_factory=disclosures.Batch)
    _connection: AsyncConnection | None = None
    _ended: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _viewer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _viewer: Viewer | None = None
    _viewer_loaded: bool = False
    _loaders: Loaders | None = None
    _decisions: dict[str, int] = field(default_factory=dict)
    # Per request, as `_decisions`: they are asked once per field of every row of a list.
    _recorded_classes: dict[str, str | None] = field(default_factory=dict)
    _rules: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    _bases: dict[int, str] = field(default_factory=dict)

    # --- database ---------------------------------------------------------------------------

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncConnection]:
        """The request's connection, one statement at a time (resolvers run concurrently).

        The whole request is one transaction: reads, disclosures and writes commit together.
        """
        async with self._lock:
            if self._ended:
                raise RequestEnded("the request's transaction has ended")
            if self._connection is None:
                self._connection = await self.engine.connect()
                await self._connection.begin()
            yield self._connection

    async def flush_disclosures(self) -> None:
        """Append what this request disclosed to the record: one INSERT, same transaction."""
        if self.disclosures and self._viewer is not None:
            async with self.db() as connection:
                await disclosures.write(
                    connection,
                    self.disclosures,
                    viewer=self._viewer,
                    request_id=self.request_id,
                    signer=disclosures.signer_for(self.settings.audit_key),
                )

    async def finish(self, *, commit: bool) -> None:
        """End the request's transaction, once the statement in flight (if any) has ended. The
        connection is not used after that: a load still queued for fields the response
        abandoned (the siblings of a failed field) is refused, not run in a new transaction."""
        async with self._lock:
            self._ended = True
            if self._connection is None:
                return
            try:
                if commit:
                    await self._connection.commit()
                else:
                    await self._connection.rollback()
            finally:
                await self._connection.close()
                self._connection = None

    # --- viewer -----------------------------------------------------------------------------

    async def viewer(self) -> Viewer | None:
        # Root fields resolve concurrently: the first loads the viewer, the others wait for it.
        async with self._viewer_lock:
            if not self._viewer_loaded:
                if self.subject is not None:
                    async with self.db() as connection:
                        self._viewer = await load_viewer(
                            connection,
                            user_id=self.subject.user_id,
                            external_subject=self.subject.external_subject,
                            session_id=self.subject.session_id,
                        )
                self._viewer_loaded = True
        return self._viewer

    def forget_viewer(self) -> None:
        """Load the viewer again when next asked. For compiled execution falling back: the
        resolvers then find the request as they would have, and load the viewer where they
        would (which of several root fields fails first depends on where each waits)."""
        self._viewer, self._viewer_loaded = None, False

    async def require_viewer(self) -> Viewer:
        viewer = await self.viewer()
        if viewer is None:
            raise Unauthenticated("sign in to read student records")
        return viewer

    def actor(self) -> Actor:
        """The signed-in viewer as the author of a write (call `require_viewer` first)."""
        if self._viewer is None:
            raise Unauthenticated("sign in to make changes")
        return Actor(self._viewer.user_id, self._viewer.district_id, self.request_id)

    def scope(self, viewer: Viewer) -> RowScope:
        if not self.authorization:
            return RowScope(viewer.district_id, frozenset(), frozenset(), whole_district=True)
        return viewer.scope()

    def student_mask(self, student_id: int, school_id: int) -> int:
        """The viewer's relation mask for one student (0 for nobody)."""
        if not self.authorization:
            return -1  # every bit: everything allowed
        return self._viewer.mask(student_id, school_id) if self._viewer else 0

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            from schema.loaders import Loaders

            self._loaders = Loaders(self)
        return self._loaders

    # --- decisions --------------------------------------------------------------------------

    def decide(self, obj: str) -> int:
        """The allow-mask of `obj`, looked up once per request."""
        mask = self._decisions.get(obj)
        if mask is None:
            mask = self.policy.mask(obj) if self.authorization else -1
            self._decisions[obj] = mask
        return mask

    def reveal(self, info: Info, student: StudentRef, obj: str) -> bool:
        """May this field of this student be shown? Records the disclosure or the redaction.

        Asked for every field of every row of a list: one look-up gives both the allow-mask and
        the field class a read is recorded under.
        """
        if self.allows(student, obj):
            return True
        self.redact(info, obj, "no policy line allows this relation to read it")
        return False

    def allows(self, student: StudentRef, obj: str) -> bool:
        """`reveal` without the redaction: records the disclosure when allowed, says nothing
        otherwise (`node(id)`, where a withheld object is as absent as a missing one)."""
        rule = self._rules.get(obj)
        if rule is None:
            rule = self._rules[obj] = (self.decide(obj), self._recorded_class(obj))
        hit = student.mask & rule[0]
        if hit and rule[1] is not None:
            self._record(student, rule[1], hit)
        return bool(hit)

    def write_hit(self, obj: str, *, school_id: int, student_id: int = 0) -> int:
        """The viewer's (role, relation) pairs allowed to write `obj` for a student (or, with no
        student, for a school); 0 when none is. Writes are always authorized."""
        if self._viewer is None:
            return 0
        return self._viewer.mask(student_id, school_id) & self.policy.write_mask(obj)

    def district_hit(self, obj: str, *, act: str = "read") -> int:
        """The viewer's district-wide pairs allowed to `act` on the district-level `obj`
        (`District.dataRequestDays`, `DistrictSettings`); 0 when none is."""
        if self._viewer is None:
            return 0
        allowed = self.policy.write_mask(obj) if act == "write" else self.decide(obj)
        return self._viewer.district_mask & allowed

    def academic_release(self, student: StudentRef, name: str) -> bool | None:
        """How much of an academic field (`Student.marks`, `Student.classes`) this student
        releases: False everything, True only the viewer's own classes, None nothing. Records the
        disclosure when released; the caller withholds when not."""
        if hit := student.mask & self.decide(f"Student.{name}"):
            self.record_disclosure(student, f"Student.{name}", hit)
            return False
        own = student.mask & self.decide(f"Student.{name}@own_classes")
        if own:
            self.record_disclosure(student, f"Student.{name}@own_classes", own)
            return True
        return None

    def record_disclosure(self, student: StudentRef, obj: str, hit: int) -> None:
        """Record that `obj` of this student was read through the pairs of `hit`."""
        field_class = self._recorded_class(obj)
        if field_class is not None:
            self._record(student, field_class, hit)

    def _recorded_class(self, obj: str) -> str | None:
        """The field class a read of `obj` is recorded under; None when such reads are not
        recorded (directory information, and everything when authorization is off)."""
        if obj in self._recorded_classes:
            return self._recorded_classes[obj]
        field_class = self.policy.field_class(obj) if self.authorization else None
        if field_class == DIRECTORY:
            field_class = None
        self._recorded_classes[obj] = field_class
        return field_class

    def _record(self, student: StudentRef, field_class: str, hit: int) -> None:
        basis = self._bases.get(hit)
        if basis is None:
            relations = {relation for _, relation in pairs_of(hit)}
            basis = self._bases[hit] = next(r for r in _BASIS_ORDER if r in relations)
        grant = None
        if basis == "legitimate_interest" and self._viewer is not None:
            grant = self._viewer.grant_for(student.pk, student.school_id)
        self.disclosures.add(student.pk, field_class, basis, grant)

    def redact(self, info: Info, obj: str, reason: str) -> None:
        self.redact_at(info.path.as_list(), obj, reason)

    def redact_at(self, path: list[str | int], obj: str, reason: str) -> None:
        """`redact` for a value at `path` of the response (the compiled path has no `info`)."""
        pattern = tuple("*" if isinstance(p, int) else p for p in path)
        redaction = self.redactions.get(pattern)
        if redaction is None:
            redaction = Redaction(path, obj, self.policy.field_class(obj), reason)
            self.redactions[pattern] = redaction
        redaction.count += 1
        redaction.indexes.append(tuple(p for p in path if isinstance(p, int)))


class StudentRef(Protocol):
    """What the decisions need to know of a student row: its key, school and relation mask."""

    mask: int

    @property
    def pk(self) -> int: ...

    @property
    def school_id(self) -> int: ...


Info = _Info[Context, None]
Resolver = Callable[..., Any]
