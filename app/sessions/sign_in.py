"""A sign-in that succeeded becomes a session and a token that names it.

```python
issued = await begin(connection, user_id, settings, request=request)   # login
issued = await begin(connection, user_id, settings, user_agent=CLI_AGENT, ttl=timedelta(hours=1))
issued.token, issued.expires_at, issued.session_id
```
The session expires with its token. The address is the client address the server sees
(`request.client.host`), as the login limits count it: behind a proxy, the address uvicorn takes
from `X-Forwarded-For` when the proxy is trusted (`--forwarded-allow-ips`, docs/deployment.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from app import auth
from app.config import Settings
from app.sessions import store

# The device of a token made on the command line (`schoolgraph token`).
CLI_AGENT = "schoolgraph token (command line)"


@dataclass(frozen=True)
class Issued:
    token: str
    expires_at: datetime
    session_id: str


async def begin(
    connection: AsyncConnection,
    user_id: int,
    settings: Settings,
    *,
    request: Request | None = None,
    user_agent: str | None = None,
    ttl: timedelta | None = None,
) -> Issued:
    """Start a session for `user_id` and issue its token (raises ValueError for a `ttl` longer
    than the deployment accepts, before anything is written)."""
    lifetime = auth.token_lifetime(settings, ttl)
    now = datetime.now(UTC)
    expires_at = now + lifetime
    address = None
    if request is not None:
        address = request.client.host if request.client else None
        user_agent = request.headers.get("user-agent")
    session_id = await store.start(
        connection, user_id=user_id, expires_at=expires_at, address=address, user_agent=user_agent
    )
    token = auth.issue_token(user_id, settings, ttl=lifetime, session_id=session_id, issued_at=now)
    return Issued(token=token, expires_at=expires_at, session_id=session_id)


async def command_line_token(
    url: str, username: str, settings: Settings, ttl: timedelta
) -> str | None:
    """`schoolgraph token --user`: a session of the account and its token; None when no account
    has that username."""
    from sqlalchemy import text

    from app.database import create_engine

    auth.token_lifetime(settings, ttl)  # a lifetime too long is refused before connecting
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            found = (
                await connection.execute(
                    text("SELECT id FROM app_user WHERE username = :username"),
                    {"username": username},
                )
            ).scalar()
            if found is None:
                return None
            issued = await begin(connection, int(found), settings, user_agent=CLI_AGENT, ttl=ttl)
            return issued.token
    finally:
        await engine.dispose()
