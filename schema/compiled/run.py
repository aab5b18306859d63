"""Answer an operation through its compiled plan, or say it must fall back (None)."""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode

from schema.context import Context


async def answer(
    context: Context,
    document: DocumentNode,
    variables: dict[str, Any],
    operation_name: str | None,
) -> dict[str, Any] | None:
    """The operation's `data`, with its redactions and disclosures added to `context`; None when
    the compiler does not cover the operation (the resolvers answer it)."""
    return None
