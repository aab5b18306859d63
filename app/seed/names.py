"""Names: pools drawn from Faker once, and the ASCII slugs of usernames and emails."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from faker import Faker


@functools.lru_cache(maxsize=1 << 16)  # names repeat: pools of a few thousand
def slug(name: str) -> str:
    """ASCII letters and digits only: `José María` -> `josemaria` (for usernames and emails)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalnum())


@dataclass(frozen=True)
class NamePools:
    """Names drawn from Faker once; the seeded Random picks from them (Faker per row is slow).

    Drawing from Faker's weighted lists keeps realistic frequencies: common names repeat.
    """

    first: Mapping[tuple[str, str], tuple[str, ...]]  # (locale, gender) -> given names
    last: Mapping[str, tuple[str, ...]]  # locale -> family names

    @classmethod
    def build(cls, seed: int) -> NamePools:
        first: dict[tuple[str, str], tuple[str, ...]] = {}
        last: dict[str, tuple[str, ...]] = {}
        for locale, size in (("en_US", 3000), ("es_MX", 1200)):
            fake = Faker(locale)
            fake.seed_instance(seed)
            first[locale, "female"] = tuple(fake.first_name_female() for _ in range(size))
            first[locale, "male"] = tuple(fake.first_name_male() for _ in range(size))
            last[locale] = tuple(fake.last_name() for _ in range(size))
        return cls(first=first, last=last)
