"""Cross-origin requests: which web pages on other origins may call the API from a browser.

A frontend served from another origin (`https://portal.district.org` calling
`https://api.district.org/graphql`) needs the server's consent, given per origin: the preflight
(`OPTIONS` with `Access-Control-Request-Method`) is answered and the responses carry
`Access-Control-Allow-Origin` for the origins configured in `SCHOOLGRAPH_CORS_ORIGINS` (a
comma-separated list of exact origins, or `*`). With nothing configured, production allows no other
origin, and development allows any `localhost`/`127.0.0.1` port (a frontend's dev server beside
`scripts/serve`). Credentials (cookies) are never allowed: the API reads only the `Authorization`
header, so a page can call it only with a token it holds. docs/clients.md says how to set it.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

# Any port of the loopback names, http or https: the development default.
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"

# Headers a browser script may read from a cross-origin response, beyond the safelisted ones.
EXPOSED_HEADERS = ("Retry-After", "WWW-Authenticate")

# How long a browser may reuse a preflight's answer (Chromium caps it at two hours).
PREFLIGHT_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class CorsOrigins:
    """The origins allowed: exact ones, `*` for any, and a pattern (the development default)."""

    exact: tuple[str, ...] = ()
    pattern: str | None = None


def parse_origins(raw: str | None, *, production: bool) -> CorsOrigins:
    """`SCHOOLGRAPH_CORS_ORIGINS` as given, or the default of the environment.

    An origin is a scheme, a host and an optional port (`https://portal.district.org`); a path,
    a trailing slash or a wildcard inside a name is refused (ValueError, one line), since a browser
    sends none of those and such an entry would silently match nothing.
    """
    if raw is None or not raw.strip():
        return CorsOrigins() if production else CorsOrigins(pattern=LOCAL_ORIGINS)
    origins = tuple(part.strip() for part in raw.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not _is_origin(origin):
            raise ValueError(
                f"SCHOOLGRAPH_CORS_ORIGINS: {origin!r} is not an origin such as"
                " https://portal.district.org (scheme and host, no path)"
            )
    return CorsOrigins(exact=origins)


def _is_origin(value: str) -> bool:
    scheme, sep, rest = value.partition("://")
    if scheme not in ("http", "https") or not sep or not rest:
        return False
    host, _, port = rest.partition(":")
    return (
        "/" not in rest
        and "*" not in rest
        and bool(host)
        and (not port or (port.isdigit() and int(port) < 65536))
    )


def middleware(origins: CorsOrigins) -> Middleware:
    """Starlette's CORS middleware for these origins: any request header (a token in a header
    cannot be sent by a page that does not hold it), GET and POST, no credentials."""
    return Middleware(
        CORSMiddleware,
        allow_origins=list(origins.exact),
        allow_origin_regex=origins.pattern,
        allow_methods=["GET", "POST"],
        allow_headers=["*"],
        allow_credentials=False,
        expose_headers=list(EXPOSED_HEADERS),
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )
