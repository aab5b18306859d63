"""Who may read a policy object: the (role, relation) pairs of its compiled allow-mask, with what
each of them gets when it gets only part of it.

```python
for reader in readers(policy, "Student.marks"):
    reader.role, reader.relation, reader.needs_grant, reader.limited_to
    # ("teacher", "teacher_of", False, ("own classes",)), ("student", "self", False, ()), ...
```
"""

from __future__ import annotations

from dataclasses import dataclass

from app.policy import ITEM_VISIBILITIES, CompiledPolicy, bit, pairs_of

GRANT = "legitimate_interest"
OWN_CLASSES = "@own_classes"
# What a reader of an `@own_classes` variant gets (`Student.marks@own_classes`).
OWN_CLASSES_PART = "own classes"


@dataclass(frozen=True)
class Reader:
    """One (role, relation) pair the policy lets read an object.

    `needs_grant`: the relation is a legitimate-interest grant, which someone has to record
    (`grantLegitimateInterest`) before it holds. `limited_to`: the parts it reads when it does not
    read all of the object — `own classes` (the rows of the classes the viewer teaches) or the
    portfolio item visibilities released to it.
    """

    role: str
    relation: str
    limited_to: tuple[str, ...] = ()

    @property
    def needs_grant(self) -> bool:
        return self.relation == GRANT

    def as_extension(self) -> dict[str, object]:
        """The machine-readable form a FORBIDDEN error carries in `extensions.grantedBy`."""
        entry: dict[str, object] = {
            "role": self.role,
            "relation": self.relation,
            "needsGrant": self.needs_grant,
        }
        if self.limited_to:
            entry["limitedTo"] = list(self.limited_to)
        return entry


def readers(policy: CompiledPolicy, obj: str) -> list[Reader]:
    """Every pair allowed to read `obj` (or a part of it), in the policy's pair order."""
    whole = _whole_mask(policy, obj)
    parts = _parts(policy, obj)
    found: list[Reader] = []
    for pair in pairs_of(policy.mask(obj) | whole | _any(parts)):
        pair_bit = bit(*pair)
        limited = () if whole & pair_bit else tuple(n for n, mask in parts if mask & pair_bit)
        found.append(Reader(*pair, limited_to=limited))
    return found


def grantors(policy: CompiledPolicy) -> list[str]:
    """The roles that may record a legitimate-interest grant, in the policy's pair order."""
    roles: list[str] = []
    for role, _ in pairs_of(policy.write_mask("LegitimateInterestGrant")):
        if role not in roles:
            roles.append(role)
    return roles


def _whole_mask(policy: CompiledPolicy, obj: str) -> int:
    """Pairs that read all of `obj`: for the portfolio, those released every item visibility."""
    if obj == "Student.portfolio":
        mask = -1
        for visibility in ITEM_VISIBILITIES:
            mask &= policy.mask(f"PortfolioItem.{visibility}")
        return mask
    return policy.mask(obj)


def _parts(policy: CompiledPolicy, obj: str) -> list[tuple[str, int]]:
    """The parts of `obj` a pair may read without reading all of it."""
    if obj == "Student.portfolio":
        return [(v, policy.mask(f"PortfolioItem.{v}")) for v in ITEM_VISIBILITIES]
    own = policy.mask(obj + OWN_CLASSES)
    return [(OWN_CLASSES_PART, own)] if own else []


def _any(parts: list[tuple[str, int]]) -> int:
    mask = 0
    for _, part in parts:
        mask |= part
    return mask
