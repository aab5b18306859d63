"""The persisted-query protocol, decided before the document is parsed.

A request's `extensions.persistedQuery` is `{"version": 1, "sha256Hash": "<64 hex>"}`:

- hash known, no `query`: the stored document runs;
- hash unknown, no `query`: `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`), on which
  Apollo Client's link sends the document with its hash;
- `query` and hash: the hash is checked (`PERSISTED_QUERY_HASH_MISMATCH`), the document kept
  (automatic mode) and run.

Modes (`SCHOOLGRAPH_PERSISTED_QUERIES`): `automatic` does the above; `allowlist` runs only
registered documents (by hash or by their exact text), and refuses any other with
`PERSISTED_QUERY_NOT_ALLOWED` — except from a signed-in account of a role that explores the data
in GraphiQL (`FREE_FORM_ROLES`), and except GraphiQL's own sign-in; `off` answers
`PERSISTED_QUERY_NOT_SUPPORTED` to a hash, on which Apollo's link stops sending hashes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from strawberry.http import GraphQLRequestData

from app.graphiql import documents as graphiql_documents
from app.http_errors import RequestRefused
from app.persisted.store import AutomaticCache, RegisteredDocuments, sha256_hex
from schema.context import Context

Mode = Literal["automatic", "allowlist", "off"]
MODES: tuple[Mode, ...] = ("automatic", "allowlist", "off")
VERSION = 1
# Staff who explore the data in GraphiQL, where documents are written by hand: in allow-list mode
# their signed-in requests may still send any document (limits and the policy still apply).
FREE_FORM_ROLES = ("district_admin", "school_admin", "coordinator")
# GraphiQL's own sign-in (sent before anyone is signed in) and "signed in as" line: in allow-list
# mode they are always registered.
BUILTIN_DOCUMENTS = graphiql_documents.DOCUMENTS
# The messages are the ones clients match on (Apollo's link matches either these or the codes).
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
NOT_SUPPORTED_MESSAGE = "PersistedQueryNotSupported"
_HASH = re.compile(r"[0-9a-fA-F]{64}")


class PersistedQueryRefused(RequestRefused):
    """A persisted-query refusal: 400 with its code, like any request refused before parsing."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(400, message, code=code)


class PersistedQueries:
    """What a worker knows of persisted documents, and the rule of its mode."""

    def __init__(
        self,
        mode: Mode = "automatic",
        *,
        registered: RegisteredDocuments | None = None,
        automatic: AutomaticCache | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"persisted-query mode must be one of {', '.join(MODES)}: {mode!r}")
        self.mode = mode
        self.registered = registered or RegisteredDocuments()
        self.automatic = automatic or AutomaticCache()
        self.builtin = {sha256_hex(document): document for document in BUILTIN_DOCUMENTS}

    def _known(self, sha256: str) -> str | None:
        if self.mode == "allowlist":
            return self.registered.get(sha256) or self.builtin.get(sha256)
        return self.registered.get(sha256) or self.automatic.get(sha256)

    async def resolve(self, data: GraphQLRequestData, context: Context) -> None:
        """Set `data.query` from the store, or refuse the request before it is parsed."""
        sha256 = _requested_hash(data.extensions)
        if sha256 is None:
            if self.mode == "allowlist" and data.query is not None:
                await self._allow(sha256_hex(data.query), context)
            return
        if self.mode == "off":
            raise PersistedQueryRefused(NOT_SUPPORTED_MESSAGE, "PERSISTED_QUERY_NOT_SUPPORTED")
        if data.query is None:
            document = self._known(sha256)
            if document is None:
                if self.mode == "allowlist" and not await _free_form(context):
                    raise _not_allowed()
                raise PersistedQueryRefused(NOT_FOUND_MESSAGE, "PERSISTED_QUERY_NOT_FOUND")
            data.query = document
            return
        if sha256_hex(data.query) != sha256:
            raise PersistedQueryRefused(
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                "PERSISTED_QUERY_HASH_MISMATCH",
            )
        if self.mode == "allowlist":
            await self._allow(sha256, context)
        elif self.registered.get(sha256) is None:
            self.automatic.put(sha256, data.query)

    async def _allow(self, sha256: str, context: Context) -> None:
        if self._known(sha256) is None and not await _free_form(context):
            raise _not_allowed()


def _not_allowed() -> PersistedQueryRefused:
    return PersistedQueryRefused(
        "only registered documents run here: register this client's documents with"
        " `schoolgraph persisted-queries register` (docs/clients.md)",
        "PERSISTED_QUERY_NOT_ALLOWED",
    )


async def _free_form(context: Context) -> bool:
    viewer = await context.viewer()
    return viewer is not None and any(viewer.has_role(role) for role in FREE_FORM_ROLES)


def _requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The lowercase hash of `extensions.persistedQuery`, None without one; refuses a malformed
    one or another version."""
    if not extensions or extensions.get("persistedQuery") is None:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict):
        raise RequestRefused(400, "extensions.persistedQuery must be an object")
    version = persisted.get("version")
    if version != VERSION:
        raise PersistedQueryRefused(
            f"persisted-query version {version!r} is not supported: only version 1",
            "PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _HASH.fullmatch(sha256):
        raise RequestRefused(
            400, "extensions.persistedQuery.sha256Hash must be a SHA-256 in hexadecimal"
        )
    return sha256.lower()
