"""Settings read from the environment, once per process.

Every setting has a development default so that `scripts/serve` works on a fresh machine; a
production deployment sets `SCHOOLGRAPH_ENV=production` and provides the secrets itself.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from app.cors import CorsOrigins, parse_origins

# The checkout the package was installed from (editable install): the CLI in `.venv/bin/` and a
# running `scripts/serve` find the same embedded database under it, whatever the working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingError(RuntimeError):
    """A setting is missing or out of range; the message is one line saying which (the CLI
    prints it as `error: ...` and exits 2, without a traceback)."""


class MissingSetting(SettingError):
    """A setting production needs is not given."""


# What production needs from its environment: each a setting, or the file alternative beside it.
_REQUIRED_IN_PRODUCTION = (
    ("SCHOOLGRAPH_JWT_SECRET",),
    ("SCHOOLGRAPH_ENCRYPTION_KEY", "SCHOOLGRAPH_ENCRYPTION_KEY_FILE"),
    ("SCHOOLGRAPH_AUDIT_KEY", "SCHOOLGRAPH_AUDIT_KEY_FILE"),
)


# Where a production deployment's settings are explained.
_DEPLOYMENT_DOCS = "docs/deployment.md"


def missing_in_production(what: str) -> MissingSetting:
    return MissingSetting(f"{what} must be set in production ({_DEPLOYMENT_DOCS})")


def _check_production() -> None:
    """Every setting production needs, named at once in one line."""
    missing = [
        names[0] + "".join(f" (or {name})" for name in names[1:])
        for names in _REQUIRED_IN_PRODUCTION
        if not any(os.environ.get(name) for name in names)
    ]
    if missing:
        raise missing_in_production(", ".join(missing))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw) if raw else None


def _cores() -> int:
    """CPUs this process may run on (a container's or `taskset`'s limit, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _development_secret(home: Path) -> str:
    """A random HS256 secret kept under `.schoolgraph/` so server and CLI tokens agree."""
    path = home / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


def _audit_key(home: Path, environment: str) -> bytes:
    """The key of the record's MACs, seals and checkpoints: never stored in the database.

    `SCHOOLGRAPH_AUDIT_KEY` (hex or any string), else the file `SCHOOLGRAPH_AUDIT_KEY_FILE`, else
    (development only) a random key kept in `.schoolgraph/audit-key`.
    """
    value = os.environ.get("SCHOOLGRAPH_AUDIT_KEY")
    key_file = os.environ.get("SCHOOLGRAPH_AUDIT_KEY_FILE")
    if not value and key_file:
        value = Path(key_file).read_text().strip()
    if not value:
        if environment == "production":
            raise missing_in_production("SCHOOLGRAPH_AUDIT_KEY or SCHOOLGRAPH_AUDIT_KEY_FILE")
        path = home / "audit-key"
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        value = path.read_text().strip()
    return value.encode()


def _encryption_key(home: Path, environment: str) -> str:
    """The master key of encryption at rest (docs/encryption.md): from the environment, a file,
    or (development only) a random one kept under `.schoolgraph/` like the JWT secret."""
    value = os.environ.get("SCHOOLGRAPH_ENCRYPTION_KEY")
    if value:
        return value
    path_text = os.environ.get("SCHOOLGRAPH_ENCRYPTION_KEY_FILE")
    if path_text:
        return Path(path_text).read_text().strip()
    if environment == "production":
        raise missing_in_production("SCHOOLGRAPH_ENCRYPTION_KEY or SCHOOLGRAPH_ENCRYPTION_KEY_FILE")
    path = home / "encryption-key"
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    path.write_text(value)
    path.chmod(0o600)
    return value


@dataclass(frozen=True)
class Settings:
    environment: str
    home: Path
    database_url: str | None
    # The owner's (or a superuser's) URL: `migrate` and `seed` run as it; `serve` migrates with it
    # when set. Unused with the embedded server, which sets both roles up itself.
    migrate_url: str | None
    jwt_secret: str
    jwt_issuer: str
    jwt_audience: str
    jwks_url: str | None
    token_ttl_seconds: int
    # The longest lifetime (exp - iat) a token may claim, ours or an identity provider's: a
    # stolen token is worth at most this long.
    max_token_ttl_seconds: int
    max_page_size: int
    max_depth: int
    max_aliases: int
    max_tokens: int
    # Rows a query may touch, by the cost model of schema/cost.py.
    max_cost: int
    lockout_threshold: int
    statement_timeout_ms: int
    pool_size: int
    # Slow clients (app/connection_limits.py): seconds to send a request's headers, then its body;
    # open connections per worker process, and connections the kernel queues before `accept`.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    backlog: int = 2048
    allowed_algorithms: tuple[str, ...] = field(default=("HS256", "RS256", "ES256"))
    # The record of disclosures (app/disclosures.py, app/seals.py): its key, where signed
    # checkpoints are exported (None: not exported), and how often the server seals.
    audit_key: bytes = field(default=b"", repr=False)
    checkpoint_dir: Path | None = None
    seal_interval_seconds: float = 10.0
    # Casbin model and policy CSVs; every worker reloads them on `schoolgraph policy reload`.
    policy_dir: Path = PROJECT_ROOT / "policies"
    # Login protection (docs/login-protection.md): limits in the `limits` notation, counted in
    # Redis when a URL is given (needed with several processes), else in this process's memory.
    login_limit_per_address: str = "100/minute"
    login_limit_per_username: str = "20/minute"
    redis_url: str | None = None
    # The lockout (docs/login-protection.md): an account locks for `lockout_base_seconds` after
    # `lockout_threshold` failures, twice as long at each lock in a row, at most
    # `lockout_max_seconds`. An address with `address_failure_limit` failures within
    # `address_failure_window_seconds` is refused before any account is looked at.
    lockout_base_seconds: int = 60
    lockout_max_seconds: int = 3600
    address_failure_limit: int = 1000
    address_failure_window_seconds: int = 900
    # Worker processes of `schoolgraph serve` (`--workers` overrides): one per core, so that a
    # plain start uses the machine. Everything per-process is shared through PostgreSQL (policy
    # reloads, the sealer's turns) or says so at start (login limits without Redis).
    workers: int = field(default_factory=_cores)
    # Password hashes run in this many threads; beyond `hash_queue` waiting, logins are refused.
    hash_workers: int = field(default_factory=_cores)
    hash_queue: int = 16
    # Largest request body accepted: a large document with its variables fits many times over.
    max_body_bytes: int = 1024 * 1024
    # Largest roster upload (`POST /roster/imports`): a district's zipped OneRoster set.
    max_roster_upload_bytes: int = 256 * 1024 * 1024
    # How long a request waits for a pooled connection before it answers 503.
    pool_timeout_seconds: float = 30.0
    # HTTPS for `schoolgraph serve`: a PEM certificate (chain) and its private key.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # The master key of encryption at rest (base64 of 32 bytes); never stored in the database.
    encryption_key: str = field(default="", repr=False)
    # Days the download link of an inspection bundle works (app/rights/inspect.py).
    export_link_days: int = 14
    # How long an administrator's one-time password reset and invitation tokens work
    # (app/passwords/tokens.py).
    reset_token_hours: int = 24
    invitation_days: int = 14
    # Answer the read shapes it covers with one compiled SQL statement (docs/execution.md); off,
    # every query takes the resolver path, which stays the reference.
    compiled_execution: bool = True
    # Origins whose pages may call the API from a browser (app/cors.py).
    cors_origins: CorsOrigins = field(default_factory=CorsOrigins)
    # Persisted queries (app/persisted/protocol.py): `automatic` (Apollo's protocol), `allowlist`
    # (only registered documents run; meant for production) or `off`.
    persisted_queries: str = "automatic"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def demo(self) -> bool:
        """Demo accounts with the published password exist only outside production."""
        return not self.production


def _checkpoint_dir(home: Path, environment: str) -> Path | None:
    """Where signed checkpoints go: `SCHOOLGRAPH_CHECKPOINT_DIR`, else `.schoolgraph/checkpoints`
    in development; production exports them only where it is told (somewhere the database's
    owner cannot write)."""
    raw = os.environ.get("SCHOOLGRAPH_CHECKPOINT_DIR")
    if raw:
        return Path(raw)
    return None if environment == "production" else home / "checkpoints"


def _cors_origins(environment: str) -> CorsOrigins:
    try:
        return parse_origins(
            os.environ.get("SCHOOLGRAPH_CORS_ORIGINS"), production=environment == "production"
        )
    except ValueError as exc:
        raise SettingError(str(exc)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    home = Path(os.environ.get("SCHOOLGRAPH_HOME", PROJECT_ROOT / ".schoolgraph")).resolve()
    environment = os.environ.get("SCHOOLGRAPH_ENV", "development")
    if environment == "production":
        _check_production()
    secret = os.environ.get("SCHOOLGRAPH_JWT_SECRET")
    if not secret:
        if environment == "production":
            raise missing_in_production("SCHOOLGRAPH_JWT_SECRET")
        secret = _development_secret(home)
    settings = Settings(
        environment=environment,
        home=home,
        database_url=os.environ.get("DATABASE_URL") or None,
        migrate_url=os.environ.get("SCHOOLGRAPH_MIGRATE_URL") or None,
        jwt_secret=secret,
        jwt_issuer=os.environ.get("SCHOOLGRAPH_JWT_ISSUER", "schoolgraph"),
        jwt_audience=os.environ.get("SCHOOLGRAPH_JWT_AUDIENCE", "schoolgraph"),
        jwks_url=os.environ.get("SCHOOLGRAPH_JWKS_URL") or None,
        token_ttl_seconds=_env_int("SCHOOLGRAPH_TOKEN_TTL", 8 * 3600),
        max_token_ttl_seconds=_env_int("SCHOOLGRAPH_MAX_TOKEN_TTL", 24 * 3600),
        max_page_size=_env_int("SCHOOLGRAPH_MAX_PAGE_SIZE", 1000),
        max_depth=_env_int("SCHOOLGRAPH_MAX_DEPTH", 10),
        max_aliases=_env_int("SCHOOLGRAPH_MAX_ALIASES", 30),
        max_tokens=_env_int("SCHOOLGRAPH_MAX_TOKENS", 2000),
        max_cost=_env_int("SCHOOLGRAPH_MAX_COST", 100_000),
        lockout_threshold=_env_int("SCHOOLGRAPH_LOCKOUT_THRESHOLD", 10),
        statement_timeout_ms=_env_int("SCHOOLGRAPH_STATEMENT_TIMEOUT_MS", 15000),
        pool_size=_env_int("SCHOOLGRAPH_POOL_SIZE", 10),
        header_timeout=_env_float("SCHOOLGRAPH_HEADER_TIMEOUT", 10.0),
        body_timeout=_env_float("SCHOOLGRAPH_BODY_TIMEOUT", 30.0),
        max_connections=_env_int("SCHOOLGRAPH_MAX_CONNECTIONS", 1000),
        backlog=_env_int("SCHOOLGRAPH_BACKLOG", 2048),
        policy_dir=Path(os.environ.get("SCHOOLGRAPH_POLICY_DIR", PROJECT_ROOT / "policies")),
        login_limit_per_address=os.environ.get("SCHOOLGRAPH_LOGIN_LIMIT_PER_ADDRESS")
        or "100/minute",
        login_limit_per_username=os.environ.get("SCHOOLGRAPH_LOGIN_LIMIT_PER_USERNAME")
        or "20/minute",
        redis_url=os.environ.get("SCHOOLGRAPH_REDIS_URL") or None,
        lockout_base_seconds=_env_int("SCHOOLGRAPH_LOCKOUT_BASE_SECONDS", 60),
        lockout_max_seconds=_env_int("SCHOOLGRAPH_LOCKOUT_MAX_SECONDS", 3600),
        address_failure_limit=_env_int("SCHOOLGRAPH_ADDRESS_FAILURE_LIMIT", 1000),
        address_failure_window_seconds=_env_int("SCHOOLGRAPH_ADDRESS_FAILURE_WINDOW", 900),
        workers=_env_int("SCHOOLGRAPH_WORKERS", _cores()),
        hash_workers=_env_int("SCHOOLGRAPH_HASH_WORKERS", _cores()),
        hash_queue=_env_int("SCHOOLGRAPH_HASH_QUEUE", 16),
        max_body_bytes=_env_int("SCHOOLGRAPH_MAX_BODY_BYTES", 1024 * 1024),
        max_roster_upload_bytes=_env_int("SCHOOLGRAPH_MAX_ROSTER_UPLOAD_BYTES", 256 * 1024 * 1024),
        pool_timeout_seconds=_env_float("SCHOOLGRAPH_POOL_TIMEOUT", 30.0),
        audit_key=_audit_key(home, environment),
        checkpoint_dir=_checkpoint_dir(home, environment),
        seal_interval_seconds=_env_float("SCHOOLGRAPH_SEAL_INTERVAL", 10.0),
        ssl_certfile=_env_path("SCHOOLGRAPH_SSL_CERTFILE"),
        ssl_keyfile=_env_path("SCHOOLGRAPH_SSL_KEYFILE"),
        encryption_key=_encryption_key(home, environment),
        export_link_days=_env_int("SCHOOLGRAPH_EXPORT_LINK_DAYS", 14),
        reset_token_hours=_env_int("SCHOOLGRAPH_RESET_TOKEN_HOURS", 24),
        invitation_days=_env_int("SCHOOLGRAPH_INVITATION_DAYS", 14),
        cors_origins=_cors_origins(environment),
        compiled_execution=os.environ.get("SCHOOLGRAPH_COMPILED_EXECUTION", "1") != "0",
        persisted_queries=os.environ.get("SCHOOLGRAPH_PERSISTED_QUERIES") or "automatic",
    )
    if settings.persisted_queries not in ("automatic", "allowlist", "off"):
        raise SettingError("SCHOOLGRAPH_PERSISTED_QUERIES must be automatic, allowlist or off")
    if settings.workers < 1:
        raise SettingError("SCHOOLGRAPH_WORKERS must be at least 1")
    if settings.export_link_days < 1:
        raise SettingError("SCHOOLGRAPH_EXPORT_LINK_DAYS must be at least 1")
    if settings.reset_token_hours < 1 or settings.invitation_days < 1:
        raise SettingError(
            "SCHOOLGRAPH_RESET_TOKEN_HOURS and SCHOOLGRAPH_INVITATION_DAYS must be at least 1"
        )
    if not 1 <= settings.lockout_base_seconds <= settings.lockout_max_seconds:
        raise SettingError(
            "SCHOOLGRAPH_LOCKOUT_BASE_SECONDS must be at least 1 and at most"
            " SCHOOLGRAPH_LOCKOUT_MAX_SECONDS"
        )
    if settings.token_ttl_seconds > settings.max_token_ttl_seconds:
        raise SettingError("SCHOOLGRAPH_TOKEN_TTL may not exceed SCHOOLGRAPH_MAX_TOKEN_TTL")
    return settings
