"""The plan of each district: its size and make-up, terms, schools, then (through the other
stages) its people and classes."""

from __future__ import annotations

from app.seed.accounts import (
    DEMO_SCHOOL_MIN,
    DISTRICT_NAME,
    SCHOOL_A_NAME,
    SCHOOL_B_NAME,
    SECOND_DISTRICT_NAME,
)
from app.seed.base import apportion
from app.seed.classes import Classes
from app.seed.model import District, DistrictSpec, School, Term
from app.seed.vocab import (
    ELEMENTARY,
    GRADE_WEIGHTS,
    HIGH,
    LEVEL_GRADES,
    LEVEL_SCHOOL_SIZE,
    LEVEL_SUFFIX,
    MIDDLE,
    NAMESAKES,
    PLACE_NAMES,
)


def district_specs(students: int) -> tuple[DistrictSpec, DistrictSpec]:
    second = max(50, round(students * 0.05))
    return (
        DistrictSpec(
            1, DISTRICT_NAME, "riversideusd.org", students - second,
            # An urban Texas district: TEA shares for the state, roughly.
            (0.52, 0.25, 0.13, 0.05, 0.004, 0.002, 0.044), ("512", "737"), demo=True,
        ),
        DistrictSpec(
            2, SECOND_DISTRICT_NAME, "cedarvalleyisd.org", second,
            # A rural district: more White and Hispanic students, fewer Asian students.
            (0.38, 0.50, 0.06, 0.01, 0.01, 0.001, 0.039), ("254", "325"), demo=False,
        ),
    )  # fmt: skip


class Plan(Classes):
    """Districts, their terms and schools; then the other stages fill them."""

    def _district(self, spec: DistrictSpec) -> District:
        district = District(spec)
        self.tables["district"].append((spec.id, spec.name, 10))
        self.next_id["district"] = spec.id
        for dates in self.calendar.terms:
            term = Term(self._id("term"), spec.id, dates)
            self.tables["term"].append(
                (term.id, spec.id, dates.name, dates.starts_on, dates.ends_on)
            )
            district.terms[dates.name] = term
        district.terms["current"] = district.terms[self.calendar.current.name]
        district.terms["previous"] = district.terms[self.calendar.previous.name]
        self._district_staff(district)
        self._schools(district)
        self._students(district)
        self._households(district)
        for school in district.schools:
            self._school_staff(district, school)
        self._classes(district)
        if spec.demo:
            self._demo_people(district)
        self._name_people(district)
        return district

    def _plan_schools(self, spec: DistrictSpec) -> list[tuple[str, int]]:
        """(level, students) per school; high schools first, so school A is the first."""
        share = {level: len(grades) / 13 for level, grades in LEVEL_GRADES.items()}
        plan: list[tuple[str, float]] = []
        for level in (HIGH, MIDDLE, ELEMENTARY):
            count = round(spec.students * share[level] / LEVEL_SCHOOL_SIZE[level])
            count = max(count, 2 if (level == HIGH and spec.demo) else 1)
            # Campuses of one level differ in size by up to 15% either way.
            plan += [
                (level, share[level] / count * self.rng.uniform(0.85, 1.15)) for _ in range(count)
            ]
        sizes = apportion(spec.students, [w for _, w in plan])
        if spec.demo and sizes[0] < DEMO_SCHOOL_MIN:
            # A small demo district still needs a school A that fits the teacher's story.
            sizes = [DEMO_SCHOOL_MIN, *apportion(spec.students - DEMO_SCHOOL_MIN,
                                                  [w for _, w in plan[1:]])]  # fmt: skip
        return [(level, size) for (level, _), size in zip(plan, sizes, strict=True)]

    def _schools(self, district: District) -> None:
        spec = district.spec
        pools = {"places": list(PLACE_NAMES), "people": list(NAMESAKES)}
        for pool in pools.values():
            self.rng.shuffle(pool)
        taken = {SCHOOL_A_NAME, SCHOOL_B_NAME}
        per_level: dict[str, int] = {}
        for level, size in self._plan_schools(spec):
            per_level[level] = per_level.get(level, 0) + 1
            index = per_level[level]
            if spec.demo and level == HIGH and index <= 2:
                name = (SCHOOL_A_NAME, SCHOOL_B_NAME)[index - 1]
            else:
                name = self._school_name(level, pools, taken)
            grades = LEVEL_GRADES[level]
            weights = [GRADE_WEIGHTS.get(g, 1.0) * self.rng.uniform(0.95, 1.05) for g in grades]
            school = School(
                id=self._id("school"),
                district_id=spec.id,
                name=name,
                code=f"{level[0].upper()}{index:03d}",
                level=level,
                grade_sizes=dict(zip(grades, apportion(size, weights), strict=True)),
            )
            district.schools.append(school)
            self.tables["school"].append((school.id, spec.id, name, school.code, level))

    def _school_name(self, level: str, pools: dict[str, list[str]], taken: set[str]) -> str:
        # Elementary schools are mostly named after places, secondary schools after people.
        order = ("places", "people") if level == ELEMENTARY else ("people", "places")
        for key in order:
            while pools[key]:
                name = f"{pools[key].pop()} {LEVEL_SUFFIX[level]}"
                if name not in taken:
                    taken.add(name)
                    return name
        while True:  # large districts run out of both lists: name schools after local families
            name = f"{self.rng.choice(self.names.last['en_US'])} {LEVEL_SUFFIX[level]}"
            if name not in taken:
                taken.add(name)
                return name
