"""GraphiQL's third-party files: fetched from the npm registry at install time, served locally.

GraphiQL, React and GraphiQL's explorer plugin are pinned below with the registry's own sha512
integrity of each tarball. `schoolgraph graphiql-assets` (run by `scripts/install`) downloads the
tarballs with nothing but the standard library, checks them, and unpacks only the files the page
serves into the environment SchoolGraph is installed in (`<venv>/share/schoolgraph/graphiql/`).
Nothing of theirs is kept in the repository, and once fetched the page works offline; a second
run finds them in place and does nothing. The server never downloads at start: a deployment
starts the same with or without a network, and says how to get the files when they are missing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's `dist.integrity`: "sha512-" and the tarball's digest
    files: dict[str, str]  # served name → path inside the tarball

    @property
    def tarball(self) -> str:
        registry = os.environ.get("SCHOOLGRAPH_NPM_REGISTRY") or DEFAULT_REGISTRY
        base = self.name.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.name}/-/{base}-{self.version}.tgz"


# Versions that work together without a bundler: GraphiQL 3's UMD bundle exposes its React
# hooks as `GraphiQL.React`, which the explorer's UMD build (3.2.5, for @graphiql/react 0.28,
# the one inside GraphiQL 3.8) uses; both want React 18's UMD builds as `React` and `ReactDOM`.
PACKAGES: tuple[Package, ...] = (
    Package(
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        {"react.production.min.js": "package/umd/react.production.min.js"},
    ),
    Package(
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        {"react-dom.production.min.js": "package/umd/react-dom.production.min.js"},
    ),
    Package(
        "graphiql",
        "3.8.3",
        "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
        {
            "graphiql.min.js": "package/graphiql.min.js",
            "graphiql.min.css": "package/graphiql.min.css",
        },
    ),
    Package(
        "@graphiql/plugin-explorer",
        "3.2.5",
        "sha512-gM9UwD0PcOHe+XrRY2YMIV4pUrDIfV0YBQ5kQUZxk0BuVvZO9xk06XFv5plBKDAwtxbsuq+nET4i9FJCiYev2g==",
        {"explorer.umd.js": "package/dist/index.umd.js", "explorer.css": "package/dist/style.css"},
    ),
)

# The page's <script> and <link> order: React first, then GraphiQL, then its plugin.
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "explorer.umd.js",
)
STYLES = ("graphiql.min.css", "explorer.css")

FETCH_HINT = "run `schoolgraph graphiql-assets` (scripts/install does) to fetch GraphiQL's files"


class AssetError(Exception):
    """A tarball could not be fetched, or is not the one pinned."""


def _pins_digest(packages: tuple[Package, ...]) -> str:
    text = json.dumps([[p.name, p.version, p.integrity, p.files] for p in packages])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assets_dir(packages: tuple[Package, ...] = PACKAGES) -> Path:
    """Where this set of pins is unpacked: beside the installed environment, one folder per set,
    so an upgrade never serves a mix of old and new files."""
    root = os.environ.get("SCHOOLGRAPH_GRAPHIQL_ASSETS")
    base = Path(root) if root else Path(sys.prefix) / "share" / "schoolgraph" / "graphiql"
    return base / _pins_digest(packages)


def _cache_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "schoolgraph" / "npm"


def installed(packages: tuple[Package, ...] = PACKAGES) -> bool:
    folder = assets_dir(packages)
    return all((folder / name).is_file() for p in packages for name in p.files)


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise AssetError unless `data` has the registry's sha512 `integrity`."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise AssetError(f"unsupported integrity {algorithm!r} (sha512 expected)")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise AssetError(f"integrity mismatch: expected {integrity}, got sha512-{actual}")


def _download(package: Package) -> bytes:
    """The package's tarball, from the local cache or the registry; checked either way."""
    cached = _cache_dir() / f"{package.name.replace('/', '__')}-{package.version}.tgz"
    if cached.is_file():
        data = cached.read_bytes()
        try:
            check_integrity(data, package.integrity)
            return data
        except AssetError:
            cached.unlink()
    try:
        # S310: the URL is the registry's https address (or the one the operator set).
        with urllib.request.urlopen(package.tarball, timeout=60) as response:  # noqa: S310
            data = bytes(response.read())
    except OSError as exc:
        raise AssetError(f"could not fetch {package.tarball}: {exc}") from exc
    check_integrity(data, package.integrity)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return data


def _unpack(package: Package, data: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for served, inside in package.files.items():
            member = archive.extractfile(inside)
            if member is None:
                raise AssetError(f"{package.name}@{package.version} has no {inside}")
            (folder / served).write_bytes(member.read())


def fetch(packages: tuple[Package, ...] = PACKAGES) -> Path:
    """Make sure the pinned files are unpacked; returns their folder. Idempotent: once they are
    in place nothing is fetched or written."""
    target = assets_dir(packages)
    if installed(packages):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        for package in packages:
            _unpack(package, _download(package), staging)
        staging.chmod(0o755)  # mkdtemp's folder is private; the server may run as another user
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
