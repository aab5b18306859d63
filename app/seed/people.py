"""People: staff with their roles, students and their families, guardians, student accounts,
and the demo accounts' family."""

from __future__ import annotations

from datetime import date, timedelta

from app.models import Role
from app.seed.accounts import SCHOOL_A_NAME
from app.seed.base import Base
from app.seed.calendar import age_on
from app.seed.model import District, DistrictSpec, Guardian, Household, School, Student
from app.seed.names import slug
from app.seed.vocab import (
    ASIAN,
    ASIAN_GIVEN,
    ASIAN_SURNAMES,
    BLACK,
    ETHNICITIES,
    GUARDIAN_EMAIL_DOMAINS,
    HISPANIC,
    UNISEX_GIVEN,
    WHITE,
)


class People(Base):
    """Staff, students, families and guardians, and every user account."""

    def _user(
        self,
        district_id: int,
        username: str,
        first: str,
        last: str,
        *,
        email: str | None = None,
        phone: str | None = None,
    ) -> int:
        user_id = self._id("app_user")
        # Row user_id - 1 of the list: `_make_demo` finds and rewrites rows by that index.
        self.tables["app_user"].append(
            (user_id, district_id, username, email, first, last, phone, None, self.imported_at)
        )
        if username in self.usernames_demo:
            self._make_demo(user_id, username)
        return user_id

    def _role(self, district: District, user_id: int, role: str, school_id: int | None) -> None:
        granted_by = district.admin_id or None  # the district admin's own role has no grantor
        self.tables["role_assignment"].append(
            (self._id("role_assignment"), district.spec.id, user_id, role, school_id, granted_by,
             self.imported_at)
        )  # fmt: skip

    def _person(self, gender: str, ethnicity: str | None = None) -> tuple[str, str]:
        """A (first, last) name plausible for the gender and ethnicity."""
        rng = self.rng
        if ethnicity is None:
            ethnicity = self._pick(((WHITE, 0.55), (HISPANIC, 0.3), (BLACK, 0.1), (ASIAN, 0.05)))
        if gender == "nonbinary":
            gender = rng.choice(("female", "male"))
            if rng.random() < 0.5:
                return rng.choice(UNISEX_GIVEN), self._last_name(ethnicity)
        if ethnicity == HISPANIC and rng.random() < 0.6:
            first = rng.choice(self.names.first["es_MX", gender])
        elif ethnicity == ASIAN and rng.random() < 0.3:
            first = rng.choice(ASIAN_GIVEN[gender])
        else:
            first = rng.choice(self.names.first["en_US", gender])
        return first, self._last_name(ethnicity)

    def _last_name(self, ethnicity: str) -> str:
        rng = self.rng
        if ethnicity == HISPANIC and rng.random() < 0.85:
            return rng.choice(self.names.last["es_MX"])
        if ethnicity == ASIAN and rng.random() < 0.75:
            return rng.choice(ASIAN_SURNAMES)
        return rng.choice(self.names.last["en_US"])

    def _phone(self, spec: DistrictSpec) -> str:
        rng = self.rng
        return f"({rng.choice(spec.area_codes)}) {rng.randint(201, 989)}-{rng.randrange(10000):04d}"

    def _staff(
        self, district: District, role: str, school_id: int | None, username: str | None = None
    ) -> int:
        """A staff member with one role; `username` names a demo account."""
        spec = district.spec
        gender = "female" if self.rng.random() < 0.72 else "male"
        first, last = self._person(gender)
        if username is None:
            base = f"{slug(first)}.{slug(last)}"
            username, n = base, 1
            while username in self.usernames:
                n += 1
                username = f"{base}{n}"
            self.usernames.add(username)
        phone = self._phone(spec) if self.rng.random() < 0.7 else None
        user_id = self._user(
            spec.id, username, first, last, email=f"{username}@{spec.domain}", phone=phone
        )
        self._role(district, user_id, role, school_id)
        return user_id

    def _district_staff(self, district: District) -> None:
        """The district office; the demo district's accounts are `admin`, `reporter`, `support`."""
        demo = district.spec.demo
        district.admin_id = self._staff(
            district, Role.DISTRICT_ADMIN, None, "admin" if demo else None
        )
        if demo:
            self._staff(district, Role.REPORTING, None, "reporter")
            self._staff(district, Role.SUPPORT, None, "support")

    def _school_staff(self, district: District, school: School) -> None:
        """Principal (and an assistant principal at big campuses) and counselors/coordinators.

        At school A the first of each are the demo `principal` and `coordinator`, and the demo
        `designee` works there too.
        """
        demo = district.spec.demo and school.name == SCHOOL_A_NAME
        for n in range(1 if school.size < 600 else 2):
            username = "principal" if demo and n == 0 else None
            self._staff(district, Role.SCHOOL_ADMIN, school.id, username)
        for n in range(max(1, round(school.size / 450))):
            username = "coordinator" if demo and n == 0 else None
            self._staff(district, Role.COORDINATOR, school.id, username)
        if demo:
            self._staff(district, Role.DESIGNEE, school.id, "designee")

    def _birth_date(self, grade: int) -> date:
        """On time, a student is `grade + 5` on Sep 1; a few were held back or started early."""
        age = grade + 5
        r = self.rng.random()
        if grade > 0 and r < 0.035:
            age += 1
        elif r > 0.99:
            age -= 1
        first = date(self.calendar.school_year - age - 1, 9, 2)
        return first + timedelta(days=self.rng.randrange(365))

    def _students(self, district: District) -> None:
        """Student records and their user accounts; names come later, per family."""
        spec, rng = district.spec, self.rng
        total = sum(s.size for s in district.schools)
        numbers = list(range(100001, 100001 + total))
        rng.shuffle(numbers)  # student numbers are assigned at registration, not by school
        for school in district.schools:
            for grade, count in school.grade_sizes.items():
                for _ in range(count):
                    r = rng.random()
                    gender = "female" if r < 0.488 else "male" if r < 0.985 else "nonbinary"
                    student = Student(
                        id=self._id("student"),
                        district_id=spec.id,
                        school=school,
                        grade=grade,
                        born=self._birth_date(grade),
                        gender=gender,
                        user_id=0,
                        ability=rng.gauss(0.0, 1.0),
                        number=str(numbers[len(district.students)]),
                    )
                    school.students.append(student)
                    district.students.append(student)

    def _households(self, district: District) -> None:
        """Group students into families of 1-4 children (siblings usually in other schools)."""
        order = list(district.students)
        self.rng.shuffle(order)
        i = 0
        while i < len(order):
            r = self.rng.random()
            size = 1 if r < 0.6 else 2 if r < 0.88 else 3 if r < 0.97 else 4
            household = Household(children=order[i : i + size])
            for child in household.children:
                child.household = household
            district.households.append(household)
            i += size

    def _demo_people(self, district: District) -> None:
        """Pick `student` from the demo teacher's classes and give them a sibling at school B."""
        school_b = district.schools[1]
        teacher = self.demo_ids["teacher"]
        taught = {st.id: st for s in district.sections if s.teacher_id == teacher
                  for st in s.students}  # fmt: skip
        current = district.terms["current"]
        candidates = [
            st for s in district.sections if s.teacher_id == teacher and s.term is current
            for st in s.students
            if st.grade in (9, 10) and 14 <= age_on(st.born, self.today) <= 16
        ]  # fmt: skip
        student = self.rng.choice(sorted(set(candidates), key=lambda st: st.id))
        sibling = self.rng.choice(
            [st for st in school_b.students if st.grade != student.grade and st.id not in taught]
        )
        # The demo family is exactly these two children; brothers and sisters they had in the
        # random grouping stay behind as a family of their own.
        family = Household(children=[student, sibling])
        for child in family.children:
            if child.household is not None:
                child.household.children.remove(child)
            child.household = family
        district.households = [h for h in district.households if h.children] + [family]
        self.demo_student, self.demo_family = student, family

    # --- names, guardians, student accounts ---------------------------------------------------

    def _name_people(self, district: District) -> None:
        spec, rng = district.spec, self.rng
        weights = list(spec.ethnicity_weights)
        for household in district.households:
            ethnicity = rng.choices(ETHNICITIES, weights)[0]
            family_name = self._last_name(ethnicity)
            born: dict[int, date] = {}
            for child in household.children:
                child.ethnicity = ethnicity
                child.first = self._person(child.gender, ethnicity)[0]
                child.last = family_name
                # Two children in one grade are twins.
                child.born = born.setdefault(child.grade, child.born)
            self._guardians(district, household, ethnicity, family_name)
        for student in district.students:
            username = f"s{spec.id}-{student.number}"
            email = f"{slug(student.first)}.{slug(student.last)}{student.number[-3:]}"
            if student is self.demo_student:
                username = "student"
            student.email = f"{email}@students.{spec.domain}"
            student.user_id = self._user(
                spec.id, username, student.first, student.last, email=student.email
            )
            self._role(district, student.user_id, Role.STUDENT, student.school.id)

    def _guardians(
        self, district: District, household: Household, ethnicity: str, family_name: str
    ) -> None:
        """One or two guardians; the first always has data access (and gives consents)."""
        spec, rng = district.spec, self.rng
        demo = household is self.demo_family
        count = 2 if demo or rng.random() < 0.7 else 1
        first_gender = "female" if rng.random() < 0.7 else "male"
        for n in range(count):
            gender = first_gender if n == 0 else ("male" if first_gender == "female" else "female")
            if n == 1 and rng.random() < 0.08:
                gender = first_gender  # two mothers or two fathers
            first, last = self._person(gender, ethnicity)
            if rng.random() < 0.85:
                last = family_name
            relationship = "parent"
            r = rng.random()
            if not demo and r < 0.06:
                relationship = "guardian"
            elif not demo and r < 0.1:
                relationship = "relative"  # a grandparent or aunt who helps out
            legal = relationship != "relative" or n == 0  # a relative raising the child is legal
            # A custody restriction: the link is kept but discloses nothing.
            data_access = n == 0 or demo or rng.random() > 0.04
            number = self.next_id["app_user"] + 1
            username = "guardian" if demo and n == 0 else f"g{spec.id}-{number:06d}"
            email = None
            if rng.random() < 0.88:
                mailbox = f"{slug(first)}.{slug(last)}{number % 1000}"
                email = f"{mailbox}@{rng.choice(GUARDIAN_EMAIL_DOMAINS)}"
            phone = self._phone(spec) if rng.random() < 0.96 else None
            user_id = self._user(spec.id, username, first, last, email=email, phone=phone)
            self._role(district, user_id, Role.GUARDIAN, None)
            household.guardians.append(Guardian(user_id, relationship, legal, data_access))

    def _make_demo(self, user_id: int, username: str) -> None:
        """A demo account: its fixed username and the shared hash of the demo password."""
        users = self.tables["app_user"]
        row = users[user_id - 1]
        users[user_id - 1] = (*row[:7], self.demo_hash, row[8])
        self.demo_ids[username] = user_id
