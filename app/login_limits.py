"""Login rate limits per client address and per username (docs/login-protection.md).

```python
limiter = LoginLimiter.from_settings(settings)
await limiter.admit(address="203.0.113.7", username="teacher")  # raises RateLimited
```

Every attempt counts, before its password is looked at, so a refused attempt costs no hash and
concurrent attempts cannot slip past the limit together. The windows are moving windows of the
`limits` library, counted in this process's memory or, with a Redis URL, in Redis, where every
process of a deployment shares them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from typing import Any

import limits
import redis.asyncio
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app import metrics
from app.config import Settings

_log = logging.getLogger(__name__)

# How long a login waits for Redis before it is let through without a limit (see `admit`).
_REDIS_TIMEOUT_SECONDS = 1.0


class RateLimited(Exception):
    """Too many attempts from this address or for this username; retry in `retry_after` s."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"too many login attempts {scope}; try again in {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


def client_key(host: str | None) -> str:
    """The address a limit counts: an IPv6 client by its /64 (one subscriber's usual block, which
    it can otherwise walk through), an IPv4-mapped address as the IPv4 it is."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP (a test client's name, a Unix socket): counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _username_key(username: str) -> str:
    # Usernames are kept out of the storage (Redis is often shared) and bounded in length.
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


def storage_uri(redis_url: str) -> str:
    """`redis://host:6379/0` (or `rediss://`, `unix://`) as the `limits` library names it."""
    if redis_url.startswith(("redis://", "rediss://")):
        return "async+" + redis_url
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    raise ValueError(f"SCHOOLGRAPH_REDIS_URL must be redis://, rediss:// or unix://: {redis_url!r}")


class LoginLimiter:
    def __init__(self, *, per_address: str, per_username: str, redis_url: str | None) -> None:
        self.per_address = limits.parse(per_address)
        self.per_username = limits.parse(per_username)
        self.shared = redis_url is not None
        self._storage: Storage
        self._redis: redis.asyncio.ConnectionPool | None = None
        if redis_url is None:
            self._storage = MemoryStorage()
        else:
            # Our own pool, so that it is closed with the application.
            self._redis = redis.asyncio.ConnectionPool.from_url(
                redis_url,
                socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
                socket_timeout=_REDIS_TIMEOUT_SECONDS,
            )
            options: dict[str, Any] = {"connection_pool": self._redis}
            self._storage = RedisStorage(
                storage_uri(redis_url),
                implementation="redispy",
                key_prefix="schoolgraph-login",
                wrap_exceptions=True,
                **options,
            )
        self._limiter = MovingWindowRateLimiter(self._storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimiter:
        return cls(
            per_address=settings.login_limit_per_address,
            per_username=settings.login_limit_per_username,
            redis_url=settings.redis_url,
        )

    async def admit(self, *, address: str | None, username: str) -> None:
        """Count one attempt against both limits; raise `RateLimited` if either is exhausted.

        If Redis cannot be reached, the attempt is let through (and logged): logins keep working
        through a Redis outage, while the account lockout and the hash queue still hold.
        """
        checks = (
            ("from this address", self.per_address, client_key(address)),
            ("for this username", self.per_username, _username_key(username)),
        )
        try:
            for scope, item, key in checks:
                if not await self._limiter.hit(item, key):
                    metrics.add("schoolgraph_login_rate_limited_total")
                    raise RateLimited(scope, await self._retry_after(item, key))
        except StorageError:
            metrics.add("schoolgraph_login_limit_errors_total")
            _log.error("login rate limit storage unreachable; attempt let through unlimited")

    async def _retry_after(self, item: limits.RateLimitItem, key: str) -> int:
        stats = await self._limiter.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def ping(self) -> bool:
        """Whether the storage answers (always, in memory)."""
        try:
            return await self._storage.check()
        except Exception:  # any failure means "unreachable"; callers only log it
            return False

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
