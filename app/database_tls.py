"""TLS to PostgreSQL: the libpq parameters of `DATABASE_URL`, honoured by the async engine.

`DATABASE_URL=postgresql://app@db.example.org/schoolgraph?sslmode=verify-full&sslrootcert=/etc/ca.pem`
means what it means to `psql`. asyncpg understands those parameters in a DSN, but SQLAlchemy's
asyncpg dialect passes every query parameter to `asyncpg.connect()` as a keyword argument, and
`connect()` has no `sslmode` or `sslrootcert` keyword: the engine fails to connect. So the TLS
parameters are taken out of the URL SQLAlchemy sees and handed to asyncpg as a DSN of their own
(`connect(dsn=...)`), whose values asyncpg applies exactly as it does for its own connections;
the host, port, user and database come from the URL as before.

    url, connect_args = split_tls("postgresql://db/sg?sslmode=require")
    # url == "postgresql://db/sg", connect_args == {"dsn": "postgresql://?sslmode=require"}
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_log = logging.getLogger(__name__)

# The libpq TLS parameters asyncpg reads from a DSN (asyncpg.connect_utils).
TLS_PARAMETERS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcrl",
        "sslnegotiation",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
    }
)
# Modes that never encrypt, or fall back to plain text when the server offers no TLS.
_PLAIN_TEXT_MODES = frozenset({"disable", "allow", "prefer"})


def split_tls(url: str) -> tuple[str, dict[str, Any]]:
    """`url` without its TLS parameters, and the `connect_args` that carry them to asyncpg."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    tls = [(k, v) for k, v in query if k in TLS_PARAMETERS]
    if not tls:
        return url, {}
    rest = urlencode([(k, v) for k, v in query if k not in TLS_PARAMETERS])
    return urlunsplit(parts._replace(query=rest)), {"dsn": "postgresql://?" + urlencode(tls)}


def _local(host: str) -> bool:
    if not host or host.startswith("/") or host == "localhost":
        return True  # a Unix socket, or this machine
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_text_host(url: str) -> str | None:
    """The non-local host `url` may talk to in plain text, or None when it cannot.

    Without `sslmode`, or with `disable`, `allow` or `prefer`, a connection may carry passwords
    and student records unencrypted (`prefer` falls back silently, and an attacker on the path
    can force the fallback); a Unix socket or a loopback address never leaves the machine.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    mode = query.get("sslmode", "prefer")
    hosts = [h for h in (query.get("host") or parts.hostname or "").split(",") if h]
    remote = [h for h in hosts if not _local(h.strip("[]"))]
    if mode in _PLAIN_TEXT_MODES and remote:
        return remote[0]
    return None


def warn_plain_text(url: str, *, production: bool) -> bool:
    """In production, log one loud line when the database connection may be plain text to
    another machine; True when it did. Called once as the server starts."""
    host = plain_text_host(url) if production else None
    if host is not None:
        _log.warning(
            "DATABASE CONNECTION IS NOT ENCRYPTED: %s is reached without sslmode=require, "
            "verify-ca or verify-full, so passwords and student records may cross the network "
            "in plain text; add ?sslmode=verify-full&sslrootcert=<CA file> to DATABASE_URL",
            host,
        )
    return host is not None
