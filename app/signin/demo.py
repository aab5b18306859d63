"""Production refuses the demo accounts, whatever the database holds.

A database seeded in development holds `admin`, `teacher`, ... with a published password; copied
into production (or seeded there by mistake), those accounts would open it to anyone. In
production mode their sign-ins are refused like a wrong password and logged.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from app.config import Settings

_log = logging.getLogger("schoolgraph.signin")


@lru_cache(maxsize=1)
def demo_usernames() -> frozenset[str]:
    from app.seed.accounts import DEMO_ACCOUNTS  # the seed package is imported only when asked

    return frozenset(account.username for account in DEMO_ACCOUNTS)


def refused(username: str, settings: Settings) -> bool:
    """Whether this sign-in is refused because production does not admit demo accounts."""
    if not settings.production or username not in demo_usernames():
        return False
    _log.warning("sign-in refused: %r is a demo account and this is production", username)
    return True
