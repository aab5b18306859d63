"""Cursors: opaque, sealed to one list in one order for one viewer, carrying the sort key.

A cursor is the sort key of a page's last row, encrypted and authenticated with AES-SIV
(RFC 5297) under a key derived from `SCHOOLGRAPH_JWT_SECRET`, so every worker agrees. The list,
the order and the viewer's user id are its associated data: the cursor opens only where it was
issued. Nobody can make one, read one or change one; a list resumes after the values the cursor
carries (`app.keyset`) and never looks up a row the caller named.

    cursors = Cursors.of(context, "students", "NAME", viewer)
    after = cursors.open(after_argument)  # None, or the key; any other cursor is one BadInput
    edges = [cursors.seal(row_key) for ...]

AES-SIV is deterministic: there is no nonce to repeat however many cursors a server issues (a
repeated AES-GCM nonce would let anyone forge), and the same row gives the same cursor, which
only says what the viewer already knows.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schema.errors import BadInput

if TYPE_CHECKING:
    from app.relations import Viewer
    from schema.context import Context

# Bumped when the sealed format changes: older cursors then fail to open like any other.
_VERSION = b"schoolgraph cursor 1"
# A real cursor is far shorter; a longer text is refused before any decoding.
_MAX_LENGTH = 1024


def _refused() -> BadInput:
    # One answer, whatever is wrong with the cursor: not ours, tampered with, another viewer's,
    # another list's or order's, from an older key. It names nothing the caller sent, so it
    # cannot differ between them, and it is decided before any statement runs.
    return BadInput("`after` is not a cursor this list gave you", argument="after")


@lru_cache(maxsize=4)
def _cipher(secret: str) -> AESSIV:
    # 256 bits: AES-SIV's two AES-128 keys (AEAD_AES_SIV_CMAC_256), one for S2V, one for CTR.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_VERSION).derive(
        secret.encode()
    )
    return AESSIV(key)


def _pack(key: Sequence[Any]) -> bytes:
    # JSON has no dates: they travel tagged (`datetime` first, it is also a `date`).
    return orjson.dumps(
        [
            {"t": v.isoformat()}
            if isinstance(v, datetime.datetime)
            else {"d": v.isoformat()}
            if isinstance(v, datetime.date)
            else v
            for v in key
        ]
    )


def _unpack(payload: bytes) -> tuple[Any, ...]:
    values = []
    for v in orjson.loads(payload):
        if isinstance(v, dict):
            (tag, text), *_ = v.items()
            v = (
                datetime.datetime.fromisoformat(text)
                if tag == "t"
                else datetime.date.fromisoformat(text)
            )
        values.append(v)
    return tuple(values)


class Cursors:
    """The cursors of one list, in one order, for one viewer."""

    def __init__(self, secret: str, list_name: str, order: str, viewer_id: int) -> None:
        self._cipher = _cipher(secret)
        # One associated-data item (each costs a CMAC pass); JSON keeps its parts apart.
        self._bound = [orjson.dumps([_VERSION.decode(), list_name, order, viewer_id])]

    @classmethod
    def of(cls, context: Context, list_name: str, order: str, viewer: Viewer) -> Cursors:
        return cls(context.settings.jwt_secret, list_name, order, viewer.user_id)

    def seal(self, key: Sequence[Any]) -> str:
        sealed = self._cipher.encrypt(_pack(key), self._bound)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, cursor: str | None, width: int) -> tuple[Any, ...] | None:
        """The key sealed in `cursor` (`width` values), None without one; else BadInput."""
        if cursor is None:
            return None
        if not 0 < len(cursor) <= _MAX_LENGTH:
            raise _refused()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            # Only the exact text `seal` wrote: base64 that differs in its unused bits decodes
            # to the same bytes.
            if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != cursor:
                raise ValueError(cursor)
            key = _unpack(self._cipher.decrypt(raw, self._bound))
        except (binascii.Error, UnicodeError, ValueError, InvalidTag) as exc:
            raise _refused() from exc
        if len(key) != width:
            raise _refused()
        return key
