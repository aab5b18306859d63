"""The session check, folded into the one statement that loads the viewer (app/relations.py).

A request whose token names a session adds no statement: the viewer's row carries whether the
session is live (not revoked, not expired, the token's own user's), and a data-modifying CTE of
the same statement moves `last_seen_at` when it is more than a minute old. `SKIP LOCKED`: a
concurrent request of the same session that is already touching it is not waited for. Nothing is
cached between requests, so a revocation holds at the next request of every worker.
"""

from __future__ import annotations

# Seen again after this long moves `last_seen_at`: at most one write a minute per session.
TOUCH_INTERVAL = "1 minute"

TOUCH_CTE = f"""
WITH touched AS (
  UPDATE user_session SET last_seen_at = now()
  WHERE id = (SELECT t.id FROM user_session t
              WHERE t.id = :sid AND t.revoked_at IS NULL AND t.expires_at > now()
                AND t.last_seen_at < now() - interval '{TOUCH_INTERVAL}'
              FOR UPDATE SKIP LOCKED)
  RETURNING id
)
"""

# A column of the viewer's row: true only for a live session of this very user.
SESSION_LIVE = """
  coalesce((SELECT us.revoked_at IS NULL AND us.expires_at > now() FROM user_session us
            WHERE us.id = :sid AND us.user_id = u.id), false) AS session_live,"""


class SessionEnded(Exception):
    """The token names a session that was revoked, has expired or is not its user's."""

    def __init__(self) -> None:
        super().__init__("this session has ended (signed out or revoked): sign in again")
