"""The policy's readers of an object, in words: a field's description and a refusal's hint.

Both say only what the policy files say — which roles, related how, may read a field — never
anything about a particular row, so a hint is the same for every row an error covers.

```python
description(policy, "Student.email")
# "Field class: contact. Readable by the student, the student's guardians, ..."
refusal(policy, "Student.portfolio", roles={"designee"})
# ("A designee may read portfolio fields (COORDINATOR items) of a student under a
#   legitimate-interest grant ... Readable by ...", [{"role": "student", ...}, ...])
```
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from app.guidance.readers import OWN_CLASSES_PART, Reader, grantors, readers
from app.policy import CompiledPolicy

# (one, several) of each role, as a sentence names them.
ROLE_NAMES = {
    "student": ("student", "students"),
    "guardian": ("guardian", "guardians"),
    "teacher": ("teacher", "teachers"),
    "coordinator": ("coordinator", "coordinators"),
    "designee": ("designee", "designees"),
    "school_admin": ("school admin", "school admins"),
    "district_admin": ("district admin", "district admins"),
    "reporting": ("reporting service", "reporting services"),
    "support": ("vendor support", "vendor support"),
}
GRANT_MUTATION = "grantLegitimateInterest"


def description(policy: CompiledPolicy, obj: str) -> str | None:
    """What a field's description says of its access; None for a field no field class governs."""
    field_class = policy.field_class(obj)
    if field_class is None:
        return None
    found = readers(policy, obj)
    if not found:
        return f"Field class: {field_class}. No policy line lets anyone read it."
    text = f"Field class: {field_class}. Readable by {who_may_read(found, _owner(obj))}."
    if any(r.needs_grant for r in found):
        text += f" {_granting(policy)}"
    return text + " Anyone else gets null and a FORBIDDEN error."


def refusal(
    policy: CompiledPolicy, obj: str, roles: Collection[str]
) -> tuple[str, list[dict[str, object]]] | None:
    """What would grant a viewer holding `roles` access to `obj`: a sentence for the message and
    the readers as data (`extensions.grantedBy`); None when no policy line lets anyone read it."""
    found = readers(policy, obj)
    if not found:
        return None
    field_class = policy.field_class(obj) or obj.split(".", 1)[1]
    sentences = []
    mine = [r for r in found if r.needs_grant and r.role in roles]
    if mine:
        subject = _one_of(_role(r.role) for r in mine)
        limit = _limit(_shared_limit(mine))
        sentences.append(
            f"{_article(subject).capitalize()} may read {field_class} fields{limit} of a"
            f" student under a legitimate-interest grant that covers the student"
            f" ({GRANT_MUTATION}, by {_one_of(_article(_role(r)) for r in grantors(policy))})."
        )
    sentences.append(f"Readable by {who_may_read(found, _owner(obj))}.")
    return " ".join(sentences), [r.as_extension() for r in found]


def who_may_read(found: list[Reader], owner: str = "Student") -> str:
    """The readers as one phrase, those holding a relation by itself first, then those who need
    a grant: `the student; the student's guardians; ...; and, under a legitimate-interest grant
    that covers the student, coordinators and designees`."""
    # Readers named the same way but for their role are named together: "coordinators,
    # designees and school admins of the student's school".
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for reader in found:
        key = ("", reader.limited_to) if reader.needs_grant else _direct(reader, owner)
        groups.setdefault(key, []).append(_role(reader.role, plural=True))
    phrases = []
    granted = []
    for (template, limited_to), roles in groups.items():
        if template:
            phrases.append(template.format(roles=_all_of(roles)) + _limit(limited_to))
        else:
            granted.append(_all_of(roles) + _limit(limited_to))
    if granted:
        phrases.append(
            f"under a legitimate-interest grant that covers the {owner.lower()},"
            f" {'; '.join(granted)}"
        )
    if len(phrases) > 1:
        phrases[-1] = "and " + phrases[-1]
    return "; ".join(phrases)


def _direct(reader: Reader, owner: str) -> tuple[str, tuple[str, ...]]:
    """How a relation held by itself names its readers (`{roles}` stands for the roles)."""
    relation = reader.relation
    template = f"{{roles}} ({relation})"
    if owner == "Student" and relation in _STUDENT_RELATIONS:
        template = _STUDENT_RELATIONS[relation]
    elif relation == "school_official":
        where = "district" if reader.role == "district_admin" else "school"
        place = f"the {owner.lower()}'s {where}" if owner != "District" else "the district"
        template = f"{{roles}} of {place}"
    return template, reader.limited_to


_STUDENT_RELATIONS = {
    "self": "the student",
    "guardian_of": "the student's guardians",
    "teacher_of": "teachers of a class the student is enrolled in",
    "classmate": "classmates (students sharing a class)",
}


def _granting(policy: CompiledPolicy) -> str:
    return (
        f"A grant is recorded with {GRANT_MUTATION} by"
        f" {_one_of(_article(_role(r)) for r in grantors(policy))}."
    )


def _limit(limited_to: tuple[str, ...]) -> str:
    if not limited_to:
        return ""
    if limited_to == (OWN_CLASSES_PART,):
        return " (only in the classes they teach)"
    return f" ({_all_of(limited_to)} items)"


def _shared_limit(found: list[Reader]) -> tuple[str, ...]:
    """The part every reader of `found` gets (all of it when one of them gets everything)."""
    if any(not r.limited_to for r in found):
        return ()
    return found[0].limited_to


def _owner(obj: str) -> str:
    return obj.split(".", 1)[0] if not obj.startswith("PortfolioItem") else "Student"


def _role(role: str, *, plural: bool = False) -> str:
    one, several = ROLE_NAMES.get(role, (role, role))
    return several if plural else one


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _all_of(items: Iterable[str]) -> str:
    return _joined(list(items), "and")


def _one_of(items: Iterable[str]) -> str:
    return _joined(list(dict.fromkeys(items)), "or")


def _joined(items: list[str], word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]
