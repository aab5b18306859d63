"""The rows of the large tables, made when the loader asks for them: students with their links
and consents, classes, enrollments, marks, portfolios with activity, readiness indicators."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

from app.consent.rules import COPPA_AGE
from app.models import ConsentKind, Visibility
from app.seed.base import MINUTES
from app.seed.calendar import age_on
from app.seed.model import SeedError, Term
from app.seed.people import People
from app.seed.vocab import (
    AP_EXAMS,
    CERTIFICATIONS,
    HEADLINES,
    IB_EXAMS,
    ITEM_VISIBILITY,
    MARK_COMMENTS,
    MILITARY_BRANCHES,
    NICKNAMES,
    PORTFOLIO_BODIES,
    PORTFOLIO_KINDS,
)

ACTIVITY_DAYS = 84  # 12 weeks of activity events

# Scores 50.0-100.0 in tenths, made once: a Decimal per mark would be the slowest part of marks.
_SCORES = tuple(Decimal(n).scaleb(-1) for n in range(1001))


def _letter(score_tenths: int) -> str:
    for floor, letter in ((900, "A"), (800, "B"), (700, "C"), (600, "D")):
        if score_tenths >= floor:
            return letter
    return "F"


# Per score in tenths: its letter and the comments that fit it (looked up once per mark).
_LETTERS = tuple(_letter(n) for n in range(1001))
_COMMENTS_FOR = tuple(
    tuple(text for floor, text in MARK_COMMENTS if n >= floor * 10) for n in range(1001)
)


class Records(People):
    """The rows of the large tables, built from the model when the loader asks."""

    def _student_rows(self) -> None:
        rng = self.rng
        for district in self.districts:
            spec = district.spec
            for st in district.students:
                household = st.household
                if household is None:
                    raise SeedError(f"student {st.id} was not placed in a household")
                age = age_on(st.born, self.today)
                preferred = None
                if rng.random() < (0.3 if st.gender == "nonbinary" else 0.1):
                    preferred = NICKNAMES.get(st.first) or self._person(st.gender)[0]
                # COPPA: a consent is on file for most students (under 13: ~90%).
                coppa = rng.random() < (0.9 if age < COPPA_AGE else 0.96)
                if spec.demo and st is self.demo_student:
                    coppa = True
                if age < COPPA_AGE and not coppa:
                    self.without_coppa.add(st.id)
                phone = self._phone(spec) if st.grade >= 6 and rng.random() < 0.75 else None
                self.tables["student"].append(
                    (st.id, spec.id, st.school.id, st.user_id, st.number, st.first, st.last,
                     preferred, st.grade, st.born, st.gender, st.ethnicity, st.email, phone,
                     "active", rng.random() < 0.03, coppa)
                )  # fmt: skip
                registered = date(self.calendar.school_year - st.grade, 4, 1) + timedelta(
                    days=rng.randrange(30)
                )
                for guardian in household.guardians:
                    self.tables["guardian_link"].append(
                        (self._id("guardian_link"), spec.id, guardian.user_id, st.id,
                         guardian.relationship, guardian.legal, guardian.data_access, registered,
                         None)
                    )  # fmt: skip
                if coppa:
                    self.tables["consent"].append(
                        (self._id("consent"), spec.id, st.id, ConsentKind.COPPA_COLLECTION.value,
                         True, household.guardians[0].user_id,
                         self._at(registered, rng.randrange(9 * 60, 18 * 60)))
                    )  # fmt: skip

    def _class_rows(self) -> None:
        for district in self.districts:
            current = district.terms["current"]
            for s in district.sections:
                self.tables["class_section"].append(
                    (s.id, s.district_id, s.school.id, s.term.id, s.title, s.code, s.subject,
                     s.grade_levels, s.visibility)
                )  # fmt: skip
                starts, ends = self._term_span(s.term, current)
                self.tables["teaching_assignment"].append(
                    (self._id("teaching_assignment"), s.district_id, s.id, s.teacher_id, starts,
                     ends)
                )  # fmt: skip

    def _term_span(self, term: Term, current: Term) -> tuple[date, date | None]:
        """Current-term links are open and active today, even before the term's first day."""
        if term is current:
            return min(term.dates.starts_on, self.today), None
        return term.dates.starts_on, term.dates.ends_on

    def _enrollment_rows(self) -> Iterator[None]:
        rng, today = self.rng, self.today
        self.dropped.clear()
        next_id = self.next_id["enrollment"]
        for district in self.districts:
            current = district.terms["current"]
            for s in district.sections:
                yield  # a chunk may be handed out here
                rows = self.tables["enrollment"]
                starts, ends = self._term_span(s.term, current)
                # A few students dropped an elective early in the current term: history.
                may_drop = s.term is current and s.elective and (today - starts).days > 10
                for st in s.students:
                    next_id += 1
                    if may_drop and rng.random() < 0.02:
                        dropped = starts + timedelta(days=rng.randint(3, (today - starts).days - 1))
                        rows.append((next_id, s.district_id, s.id, st.id, starts, dropped))
                        self.dropped.setdefault(s.id, set()).add(st.id)
                    else:
                        rows.append((next_id, s.district_id, s.id, st.id, starts, ends))
        self.next_id["enrollment"] = next_id

    def _mark_rows(self) -> Iterator[None]:
        """Final marks for last term; progress marks in most current classes (all of the demo
        teacher's)."""
        rng, today = self.rng, self.today
        next_id = self.next_id["mark"]
        demo_teacher = self.demo_ids.get("teacher")
        gauss, random_ = rng.gauss, rng.random
        no_one: frozenset[int] = frozenset()
        for district in self.districts:
            current = district.terms["current"]
            for s in district.sections:
                yield  # a chunk may be handed out here
                append = self.tables["mark"].append
                if s.term is current:
                    if s.teacher_id != demo_teacher and random_() < 0.15:
                        continue
                    first = min(s.term.dates.starts_on, today)
                    span = max(0, (today - first).days - 1)
                else:
                    first, span = s.term.dates.ends_on, 0
                days = self._midnights_from(first, span + 1)
                course_difficulty = gauss(0.0, 2.0)
                dropped = self.dropped.get(s.id, no_one)
                district_id, class_id, term_id, teacher_id = (
                    s.district_id, s.id, s.term.id, s.teacher_id
                )  # fmt: skip
                for st in s.students:
                    if st.id in dropped:
                        continue
                    tenths = round((82.0 + 8.0 * st.ability - course_difficulty + gauss(0, 5)) * 10)
                    if tenths > 1000:
                        tenths = 1000
                    elif tenths < 500:
                        tenths = 500
                    comment = None
                    if random_() < 0.12:
                        fitting = _COMMENTS_FOR[tenths]
                        comment = fitting[int(random_() * len(fitting))]
                    day = days[int(random_() * (span + 1))]
                    next_id += 1
                    append(
                        (next_id, district_id, st.id, class_id, term_id, _SCORES[tenths],
                         _LETTERS[tenths], comment, teacher_id,
                         day + MINUTES[15 * 60 + int(random_() * 180)])
                    )  # fmt: skip
        self.next_id["mark"] = next_id

    def _midnights_from(self, first: date, days: int) -> tuple[datetime, ...]:
        """Midnight of `first` and of the days after it (cached: sections share their term's)."""
        key = (first, days)
        found = self.midnight_runs.get(key)
        if found is None:
            found = tuple(self._midnight(first + timedelta(days=n)) for n in range(days))
            self.midnight_runs[key] = found
        return found

    def _portfolio_rows(self) -> Iterator[None]:
        """Portfolios for grades 6+, with items and the activity (logins, edits) of 12 weeks.

        Nothing is collected from an under-13 student without COPPA consent (the product refuses
        their portfolio items): they get logins only, no portfolio, items or edits. Their draws
        and ids are taken all the same and the rows left out, so every other row is what it would
        be otherwise (the ids left out are gaps, as after deletions)."""
        rng, today = self.rng, self.today
        random_, randint, randrange, choice = rng.random, rng.randint, rng.randrange, rng.choice
        window = ACTIVITY_DAYS
        ago = self.midnight_ago
        weekend = [day.weekday() >= 5 for day in ago[: window + 1]]
        by_time = operator.itemgetter(1)
        for district in self.districts:
            spec = district.spec
            for st in district.students:
                yield  # a chunk may be handed out here
                if st.grade < 6:
                    continue
                # The portfolio was opened when the student started middle school.
                opened = min(date(self.calendar.school_year - (st.grade - 6), 9, 1),
                             today - timedelta(days=7))  # fmt: skip
                max_age = (today - opened).days
                collected = st.id not in self.without_coppa
                portfolio_id = self._id("portfolio")
                headline = choice(HEADLINES) if random_() < 0.7 else None
                if collected:
                    self.tables["portfolio"].append(
                        (portfolio_id, spec.id, st.id, headline, self._at(opened, 10 * 60))
                    )
                events: list[tuple[str, datetime]] = []
                visibilities = None
                count = randint(2, 5)
                if spec.demo and st is self.demo_student:
                    count = 4  # the demo student shows every visibility
                    visibilities = [v for v, _ in ITEM_VISIBILITY] + [Visibility.TEACHERS.value]
                items = self.tables["portfolio_item"]
                for n in range(count):
                    kind, titles = self._item_kind(st.grade)
                    days_ago = (
                        randint(1, min(window, max_age))
                        if random_() < 0.55 or max_age <= window
                        else randint(window + 1, max_age)
                    )
                    created = ago[days_ago] + MINUTES[randrange(7 * 60, 22 * 60)]
                    updated, updated_ago = created, days_ago
                    if random_() < 0.35 and days_ago > 1:
                        updated_ago = randint(1, days_ago - 1)
                        updated = ago[updated_ago] + MINUTES[randrange(7 * 60, 22 * 60)]
                    if days_ago <= window:
                        events.append(("portfolio_item_created", created))
                    if updated is not created and updated_ago <= window:
                        events.append(("portfolio_item_updated", updated))
                    visibility = visibilities[n] if visibilities else self._pick(ITEM_VISIBILITY)
                    body = choice(PORTFOLIO_BODIES) if random_() < 0.85 else None
                    item = (self._id("portfolio_item"), spec.id, portfolio_id, st.id, kind,
                            choice(titles), body, visibility, created, updated)  # fmt: skip
                    if collected:
                        items.append(item)
                # Logins: school days more than weekends, school hours and evenings.
                for _ in range(max(2, randint(8, 12) - len(events))):
                    n = randint(1, window)
                    if weekend[n] and random_() < 0.6:
                        n = randint(1, window)  # one more draw
                    if random_() < 0.55:
                        minute = randrange(7 * 60 + 30, 15 * 60 + 30)
                    else:
                        minute = randrange(16 * 60, 22 * 60 + 30)
                    events.append(("login", ago[n] + MINUTES[minute]))
                events.sort(key=by_time)
                activity = self.tables["activity_event"]
                next_id = self.next_id["activity_event"]
                for kind, at in events:
                    next_id += 1
                    if collected or kind == "login":
                        activity.append(
                            (next_id, spec.id, st.user_id, st.id, st.school.id, kind, at)
                        )  # fmt: skip
                self.next_id["activity_event"] = next_id

    def _item_kind(self, grade: int) -> tuple[str, tuple[str, ...]]:
        r = self.rng.random()
        chosen = PORTFOLIO_KINDS[-1]
        for candidate in PORTFOLIO_KINDS:
            r -= candidate[1]
            if r < 0:
                chosen = candidate
                break
        if chosen[0] == "certification" and grade < 9:
            chosen = PORTFOLIO_KINDS[4]  # middle schoolers have artifacts instead
        return chosen[0], chosen[2]

    def _readiness_rows(self) -> Iterator[None]:
        """Texas CCMR indicators for juniors and seniors."""
        rng, today = self.rng, self.today
        for district in self.districts:
            for st in district.students:
                yield  # a chunk may be handed out here
                if st.grade < 11:
                    continue
                for indicator in self._indicators(st.grade):
                    name, category, met, value, source = indicator
                    achieved = today - timedelta(days=rng.randint(14, 365 * (st.grade - 10)))
                    self.tables["readiness_indicator"].append(
                        (self._id("readiness_indicator"), district.spec.id, st.id, name, category,
                         met, value, achieved, source)
                    )  # fmt: skip

    def _indicators(self, grade: int) -> Iterator[tuple[str, str, bool, str, str]]:
        rng = self.rng
        if rng.random() < 0.55:
            score = rng.randint(910, 990)  # TSIA2 ELAR: college ready at 945
            yield "tsi_reading", "college", score >= 945, f"TSIA2 ELAR {score}", "TEA CCMR"
        if rng.random() < 0.5:
            score = rng.randint(910, 990)  # TSIA2 mathematics: college ready at 950
            yield "tsi_math", "college", score >= 950, f"TSIA2 Math {score}", "TEA CCMR"
        if rng.random() < 0.3:
            if rng.random() < 0.15:
                exam, score = rng.choice(IB_EXAMS), rng.randint(2, 7)
                yield (
                    "ap_ib",
                    "college",
                    score >= 4,
                    f"{exam}: {score}",
                    "International Baccalaureate",
                )
            else:
                exam, score = rng.choice(AP_EXAMS), rng.randint(1, 5)
                yield "ap_ib", "college", score >= 3, f"{exam}: {score}", "College Board"
        if rng.random() < 0.22:
            hours = rng.choice((3, 6, 9, 12, 15))
            yield "dual_credit", "college", hours >= 9, f"{hours} semester credit hours", "TEA CCMR"
        if rng.random() < 0.15:
            cert = rng.choice(CERTIFICATIONS)
            passed = rng.random() < 0.85
            value = cert if passed else f"{cert} (exam not passed)"
            yield "industry_certification", "career", passed, value, "TEA CCMR"
        if grade == 12 and rng.random() < 0.06:
            enlisted = rng.random() < 0.75
            value = f"Enlisted: {rng.choice(MILITARY_BRANCHES)}" if enlisted else "ASVAB taken"
            yield "military", "military", enlisted, value, "TEA CCMR"
