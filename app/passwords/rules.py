"""The one rule a new password must meet, wherever it is set (docs/login-protection.md).

- at least `MIN_PASSWORD_LENGTH` characters (and at most `MAX_PASSWORD_LENGTH`);
- hard to guess by zxcvbn's estimate (score `MIN_SCORE` of 0-4): common passwords, keyboard
  walks, dates, repeats and l33t variants of dictionary words score low;
- not built from the account's own username, names or email, nor the published demo password.

No rule about character classes: a long phrase of words is stronger than `Password1!`, which the
estimate refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from zxcvbn import zxcvbn

MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase; bounded so that no request can make the server hash megabytes.
MAX_PASSWORD_LENGTH = 256
# zxcvbn: 3 is "safely unguessable" (about 10^8 guesses or more at a slow hash).
MIN_SCORE = 3
# A longer password is judged by its first 40 characters: the estimate grows faster than the
# length (about 0.1 s of CPU at 72 random characters, 10-30 ms at 40), and 40 random-enough
# characters are strong whatever follows.
_ESTIMATED_LENGTH = 40
# The password the demo accounts publish (app/seed): never acceptable as a real one.
_PUBLISHED = frozenset({"demo-password-1"})
# Personal words shorter than this are too common to refuse as parts of a password.
_MIN_PERSONAL = 3

WEAK_PASSWORD = "WEAK_PASSWORD"  # noqa: S105 (an error code)


def _personal_words(personal: Iterable[str | None]) -> list[str]:
    """The account's own words: each value whole, and its parts (an email's local part, names
    split at punctuation)."""
    words: set[str] = set()
    for value in personal:
        if not value:
            continue
        lowered = value.lower()
        words.add(lowered)
        words.update(re.split(r"[^a-z0-9]+", lowered.split("@")[0]))
    return sorted(w for w in words if len(w) >= _MIN_PERSONAL)


def password_problems(password: str, *, personal: Iterable[str | None] = ()) -> list[str]:
    """What a new password lacks, each as a short phrase; an empty list means it is acceptable.

    `personal`: the account's username, first and last names and email, which the password
    may not contain and which the estimate treats as known to an attacker.
    """
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"must be at most {MAX_PASSWORD_LENGTH} characters long")
        return problems
    if password in _PUBLISHED:
        problems.append("is the published demo password")
    words = _personal_words(personal)
    lowered = password.lower()
    if any(word in lowered for word in words):
        problems.append("must not contain your username, name or email")
    if password:
        estimate = zxcvbn(password[:_ESTIMATED_LENGTH], user_inputs=words)
        if estimate["score"] < MIN_SCORE:
            warning = estimate["feedback"]["warning"].rstrip(".")
            reason = f": {warning[0].lower()}{warning[1:]}" if warning else ""
            problems.append(f"is too easy to guess{reason}")
    return problems


def describe(problems: list[str]) -> str:
    """One message for a userError: `the password is too easy to guess; must be ...`."""
    return "the new password " + "; ".join(problems)
