"""Classes: sections of the current and the previous term, their rosters and their teachers."""

from __future__ import annotations

import math

from app.models import ClassVisibility, Role
from app.seed.accounts import DEMO_SUBJECT, SCHOOL_A_NAME
from app.seed.base import apportion
from app.seed.model import District, School, Section, Student, Term
from app.seed.people import People
from app.seed.vocab import (
    CLASSES_PER_TEACHER,
    CORE_COURSES,
    ELECTIVES,
    ELEMENTARY,
    HOMEROOM_SUBJECTS,
    HOMEROOM_TARGET,
    LEVEL_GRADES,
    SECTION_MAX,
    SECTION_TARGET,
    SPECIALS,
)


def section_sizes(n: int, target: int = SECTION_TARGET) -> list[int]:
    """Near-equal sections of about `target` students, never more than SECTION_MAX."""
    if n == 0:
        return []
    k = max(1, round(n / target))
    k = max(k, math.ceil(n / SECTION_MAX))
    return apportion(n, [1.0] * k)


class Classes(People):
    """Sections with rosters and teachers; teachers are staff made as needed."""

    def _classes(self, district: District) -> None:
        """Sections, rosters and teachers for the current term, then the previous one."""
        current, previous = district.terms["current"], district.terms["previous"]
        # Last term's grade: one lower if it was in the previous school year.
        shift = current.dates.school_year - previous.dates.school_year
        schools_by_level: dict[str, list[School]] = {}
        for school in district.schools:
            schools_by_level.setdefault(school.level, []).append(school)
        for term, grade_shift in ((current, 0), (previous, shift)):
            rosters: dict[int, list[tuple[Student, int]]] = {s.id: [] for s in district.schools}
            for school in district.schools:
                for student in school.students:
                    grade = student.grade - grade_shift
                    if grade < 0:
                        continue  # this year's kindergarteners were not at school last year
                    rosters[self._school_for(student.school, grade, schools_by_level).id].append(
                        (student, grade)
                    )
            for school in district.schools:
                demo_sizes = None
                if district.spec.demo and term is current and school.name == SCHOOL_A_NAME:
                    demo_sizes = apportion(self.rng.randint(112, 118), [1.0] * 5)
                sections = self._school_sections(district, school, term, rosters[school.id],
                                                 demo_sizes)  # fmt: skip
                self._assign_teachers(district, school, sections, demo=demo_sizes is not None)
                district.sections += sections

    def _school_for(self, school: School, grade: int, by_level: dict[str, list[School]]) -> School:
        """Where a student attended `grade`: their own school, or a feeder school of that level."""
        if grade in LEVEL_GRADES[school.level]:
            return school
        level = next(lv for lv, grades in LEVEL_GRADES.items() if grade in grades)
        feeders = by_level[level]
        return feeders[school.id % len(feeders)]

    def _new_section(
        self,
        district: District,
        school: School,
        term: Term,
        course: tuple[str, str, str],  # subject, title, code
        number: int,
        members: list[tuple[Student, int]],
        department: tuple[str, ...],
        *,
        elective: bool,
    ) -> Section:
        subject, title, code = course
        public_share = 0.25 if elective else 0.05
        return Section(
            id=self._id("class_section"),
            district_id=district.spec.id,
            school=school,
            term=term,
            title=title,
            code=f"{code}-{number:02d}",
            subject=subject,
            department=department,
            grade_levels=sorted({grade for _, grade in members}),
            visibility=(
                ClassVisibility.PUBLIC.value
                if self.rng.random() < public_share
                else ClassVisibility.PRIVATE.value
            ),
            students=[student for student, _ in members],
            elective=elective,
        )

    def _school_sections(
        self,
        district: District,
        school: School,
        term: Term,
        roster: list[tuple[Student, int]],
        demo_sizes: list[int] | None,
    ) -> list[Section]:
        if school.level == ELEMENTARY:
            return self._homeroom_sections(district, school, term, roster)
        rng = self.rng
        sections: list[Section] = []
        by_grade: dict[int, list[tuple[Student, int]]] = {}
        for member in roster:
            by_grade.setdefault(member[1], []).append(member)
        grades = sorted(by_grade)
        first_grade = LEVEL_GRADES[school.level][0]
        for subject, courses in CORE_COURSES[school.level].items():
            # Each subject shuffles students anew (different classmates per period); sections
            # follow grade order, so most hold one grade and a few straddle two.
            ordered: list[tuple[Student, int]] = []
            for grade in grades:
                members = list(by_grade[grade])
                rng.shuffle(members)
                ordered += members
            if demo_sizes and subject == DEMO_SUBJECT:
                sizes = demo_sizes + section_sizes(len(ordered) - sum(demo_sizes))
            else:
                sizes = section_sizes(len(ordered))
            start, numbers = 0, dict[str, int]()
            for size in sizes:
                members = ordered[start : start + size]
                start += size
                grades_in = [grade for _, grade in members]
                majority = max(set(grades_in), key=lambda g: (grades_in.count(g), -g))
                title, code = courses[majority - first_grade]
                numbers[code] = numbers.get(code, 0) + 1
                sections.append(
                    self._new_section(district, school, term, (subject, title, code),
                                      numbers[code], members, (subject,), elective=False)
                )  # fmt: skip
        sections += self._elective_sections(district, school, term, roster, grades)
        return sections

    def _elective_sections(
        self,
        district: District,
        school: School,
        term: Term,
        roster: list[tuple[Student, int]],
        grades: list[int],
    ) -> list[Section]:
        rng = self.rng
        catalog = ELECTIVES[school.level]
        ballot = [i for i, (*_, weight) in enumerate(catalog) for _ in range(weight)]
        takers: list[list[tuple[Student, int]]] = [[] for _ in catalog]
        for member in roster:
            first = rng.choice(ballot)
            second = rng.choice(ballot)
            while second == first:
                second = rng.choice(ballot)
            takers[first].append(member)
            takers[second].append(member)
        sections = []
        for (subject, title, code), members in zip(
            ((s, t, c) for s, t, c, _ in catalog), takers, strict=True
        ):
            members.sort(key=lambda m: m[1])  # by grade: upper-level sections fill last
            start = 0
            for number, size in enumerate(section_sizes(len(members)), start=1):
                sections.append(
                    self._new_section(district, school, term, (subject, title, code), number,
                                      members[start : start + size], (subject,), elective=True)
                )  # fmt: skip
                start += size
        return sections

    def _homeroom_sections(
        self, district: District, school: School, term: Term, roster: list[tuple[Student, int]]
    ) -> list[Section]:
        """Homerooms of ~22: four core classes with one teacher, then fine arts and PE."""
        by_grade: dict[int, list[tuple[Student, int]]] = {}
        for member in roster:
            by_grade.setdefault(member[1], []).append(member)
        sections = []
        for grade in sorted(by_grade):
            members = by_grade[grade]
            self.rng.shuffle(members)
            label = "Kindergarten" if grade == 0 else f"Grade {grade}"
            tag = "K" if grade == 0 else str(grade)
            start = 0
            for room, size in enumerate(section_sizes(len(members), HOMEROOM_TARGET), start=1):
                homeroom = members[start : start + size]
                start += size
                for subject, code in HOMEROOM_SUBJECTS:
                    course = (subject, f"{label} {subject}", f"{tag}-{code}")
                    sections.append(
                        self._new_section(district, school, term, course, room, homeroom,
                                          ("homeroom", str(grade), str(room)), elective=False)
                    )  # fmt: skip
                for subject, code in SPECIALS:
                    course = (subject, f"{label} {subject}", f"{tag}-{code}")
                    sections.append(
                        self._new_section(district, school, term, course, room, homeroom,
                                          (subject,), elective=False)
                    )  # fmt: skip
        return sections

    def _assign_teachers(
        self, district: District, school: School, sections: list[Section], *, demo: bool
    ) -> None:
        """Each department's sections are split evenly over as few teachers as keeps loads <= 6.

        Teachers are kept per (school, department) so last term's sections go to the same
        people; a homeroom is one teacher's whole load.
        """
        departments: dict[tuple[str, ...], list[Section]] = {}
        for section in sections:
            key = (
                section.department[:2]
                if section.department[0] == "homeroom"
                else section.department
            )
            departments.setdefault(key, []).append(section)
        for key, dept_sections in departments.items():
            pool = self.teacher_pools.setdefault((school.id, key), [])
            if demo and key == (DEMO_SUBJECT,):
                # The demo teacher's five sections are the first five of the subject.
                teacher = self._staff(district, Role.TEACHER, school.id, "teacher")
                for section in dept_sections[:5]:
                    section.teacher_id = teacher
                self._deal(district, school, pool, dept_sections[5:], CLASSES_PER_TEACHER)
                pool.insert(0, teacher)
            elif key[0] == "homeroom":
                bundles = [s for s in dept_sections if s.subject == HOMEROOM_SUBJECTS[0][0]]
                self._deal(district, school, pool, bundles, 1)
                by_room = {s.department: s.teacher_id for s in bundles}
                for section in dept_sections:
                    section.teacher_id = by_room[section.department]
            else:
                self._deal(district, school, pool, dept_sections, CLASSES_PER_TEACHER)

    def _deal(
        self,
        district: District,
        school: School,
        pool: list[int],
        sections: list[Section],
        per_teacher: int,
    ) -> None:
        if not sections:
            return
        needed = math.ceil(len(sections) / per_teacher)
        while len(pool) < needed:
            pool.append(self._staff(district, Role.TEACHER, school.id))
        start = 0
        for teacher, load in zip(pool, apportion(len(sections), [1.0] * needed), strict=False):
            for section in sections[start : start + load]:
                section.teacher_id = teacher
            start += load
