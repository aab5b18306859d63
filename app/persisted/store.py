"""Where persisted documents are kept.

Automatic registrations (a client sends a document with its hash) go to a bounded in-process
LRU, never to the database: anyone may register, so anonymous clients must not be able to grow
a table, and a document a worker forgets is only a retry away (the client sends it again).

Registered documents (`schoolgraph persisted-queries register`) are rows of `persisted_query`,
which the application role may only read. Every worker loads them at start and reloads them when
told (`NOTIFY schoolgraph_persisted_queries`, sent by the command), so looking one up costs no
SQL statement.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.database import asyncpg_dsn

CHANNEL = "schoolgraph_persisted_queries"
# Characters of automatically registered documents a worker keeps: thousands of ordinary
# documents, and no more memory than a few request bodies however many are sent.
AUTOMATIC_CACHE_CHARS = 8 * 1024 * 1024
_log = logging.getLogger(__name__)


def sha256_hex(document: str) -> str:
    """The hash a client sends: SHA-256 of the document's UTF-8 text, lowercase hex."""
    return hashlib.sha256(document.encode()).hexdigest()


class AutomaticCache:
    """Documents by hash, least recently used first out once their text passes `max_chars`."""

    def __init__(self, max_chars: int = AUTOMATIC_CACHE_CHARS) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._documents: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, sha256: str) -> str | None:
        document = self._documents.get(sha256)
        if document is not None:
            self._documents.move_to_end(sha256)
        return document

    def put(self, sha256: str, document: str) -> None:
        if sha256 in self._documents or len(document) > self.max_chars:
            return
        self._documents[sha256] = document
        self.chars += len(document)
        while self.chars > self.max_chars:
            _, dropped = self._documents.popitem(last=False)
            self.chars -= len(dropped)


class RegisteredDocuments:
    """The registered documents by hash, as last loaded from `persisted_query`."""

    def __init__(self, documents: dict[str, str] | None = None) -> None:
        self.documents: dict[str, str] = dict(documents or {})
        self._reloads: set[asyncio.Task[None]] = set()

    def get(self, sha256: str) -> str | None:
        return self.documents.get(sha256)

    async def load(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT DISTINCT ON (sha256) sha256, document FROM persisted_query")
            )
            # One assignment: a request in flight sees the old set or the new one, whole.
            self.documents = {row.sha256: row.document for row in rows}

    async def listen(self, url: str, engine: AsyncEngine) -> asyncpg.Connection:
        """Reload whenever `schoolgraph persisted-queries` changed the table."""
        connection = await asyncpg.connect(asyncpg_dsn(url))

        def on_notify(*_args: Any) -> None:
            task = asyncio.get_running_loop().create_task(self._reload(engine))
            self._reloads.add(task)  # held until done: the loop keeps only a weak reference
            task.add_done_callback(self._reloads.discard)

        await connection.add_listener(CHANNEL, on_notify)
        return connection

    async def _reload(self, engine: AsyncEngine) -> None:
        try:
            await self.load(engine)
        except Exception as error:  # keep serving the documents already loaded
            _log.error("registered persisted queries not reloaded: %s", type(error).__name__)
            return
        _log.info("registered persisted queries reloaded: %d documents", len(self.documents))
