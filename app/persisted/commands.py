"""`schoolgraph persisted-queries register|list|remove`.

They run as the database's owner (`SCHOOLGRAPH_MIGRATE_URL` with `DATABASE_URL`), like the other
operator commands: the server's role may only read `persisted_query`, so what runs in allow-list
mode is decided by whoever deploys, never over the API. Each change is an audit event naming the
operating-system user, and tells running servers to reload the documents.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.districts.commands import in_owner_transaction
from app.persisted.documents import Document, read_all
from app.persisted.store import CHANNEL

persisted_cli = typer.Typer(
    help="Registered persisted queries: the documents clients may send by hash (docs/clients.md).",
    no_args_is_help=True,
)
console = Console()
_CLIENT = typer.Option(..., "--client", help="The client's name (an app, a build).")


async def _audit(connection: AsyncConnection, action: str, details: dict[str, Any]) -> None:
    """Deployment-wide, by no account: no district, no actor; `by` names who ran it."""
    await connection.execute(
        text(
            "INSERT INTO audit_event (district_id, actor_user_id, action, target_type, details)"
            " VALUES (NULL, NULL, :action, 'persisted_query', CAST(:details AS jsonb))"
        ),
        {"action": action, "details": json.dumps({**details, "by": getpass.getuser()})},
    )
    await connection.execute(text(f"NOTIFY {CHANNEL}"))


@persisted_cli.command("register")
def register(
    files: list[Path] = typer.Argument(
        ..., help="Apollo manifests, Relay maps (.json) or .graphql files."
    ),
    client: str = _CLIENT,
) -> None:
    """Check each document against the schema and register it for the client; nothing is
    registered if any is refused. Registering the same documents again changes nothing."""
    from schema import create_schema

    schema = create_schema()._schema
    documents, problems = read_all(schema, files)
    for problem in problems:
        console.print(f"refused: {problem}", style="red", soft_wrap=True, markup=False)
    if problems:
        console.print(f"[red]{len(problems)} refused: nothing registered[/red]")
        raise typer.Exit(1)
    unique = list({d.sha256: d for d in documents}.values())

    async def work(connection: AsyncConnection) -> int:
        added = 0
        for document in unique:
            result = await connection.execute(
                text(
                    "INSERT INTO persisted_query"
                    " (client_name, sha256, document, operation_names, registered_by)"
                    " VALUES (:client, :sha256, :document, :names, :by)"
                    " ON CONFLICT (client_name, sha256) DO NOTHING"
                ),
                _row(client, document),
            )
            added += result.rowcount
        if added:
            await _audit(
                connection,
                "persisted_queries.register",
                {"client": client, "added": added, "files": [str(f) for f in files]},
            )
        return added

    added = in_owner_transaction(work)
    console.print(
        f"client {client}: {added} documents registered, {len(unique) - added} already were"
    )


def _row(client: str, document: Document) -> dict[str, str]:
    return {
        "client": client,
        "sha256": document.sha256,
        "document": document.text,
        "names": document.operation_names,
        "by": getpass.getuser(),
    }


@persisted_cli.command("list")
def list_documents(
    client: str | None = typer.Option(None, "--client", help="Only this client's documents."),
) -> None:
    """The registered documents: client, hash, operations, when and by whom."""

    async def work(connection: AsyncConnection) -> list[Any]:
        rows = await connection.execute(
            text(
                "SELECT client_name, sha256, operation_names, registered_at, registered_by"
                " FROM persisted_query WHERE CAST(:client AS text) IS NULL OR client_name = :client"
                " ORDER BY client_name, registered_at, sha256"
            ),
            {"client": client},
        )
        return list(rows)

    table = Table("client", "sha256", "operations", "registered", "by")
    rows = in_owner_transaction(work)
    for row in rows:
        table.add_row(
            row.client_name,
            row.sha256,
            row.operation_names,
            f"{row.registered_at:%Y-%m-%d %H:%M}",
            row.registered_by,
        )
    console.print(table)
    console.print(f"{len(rows)} documents")


@persisted_cli.command("remove")
def remove(
    hashes: list[str] = typer.Argument(None, help="SHA-256 hashes of the client's documents."),
    client: str = _CLIENT,
    everything: bool = typer.Option(False, "--all", help="Remove every document of the client."),
) -> None:
    """Remove documents of a client (running servers stop accepting them at once)."""
    if bool(hashes) == everything:
        console.print("[red]give the hashes to remove, or --all[/red]")
        raise typer.Exit(2)

    async def work(connection: AsyncConnection) -> int:
        result = await connection.execute(
            text(
                "DELETE FROM persisted_query WHERE client_name = :client"
                " AND (CAST(:hashes AS text[]) IS NULL OR sha256 = ANY(CAST(:hashes AS text[])))"
            ),
            {"client": client, "hashes": None if everything else [h.lower() for h in hashes]},
        )
        if result.rowcount:
            await _audit(
                connection,
                "persisted_queries.remove",
                {"client": client, "removed": result.rowcount},
            )
        return int(result.rowcount)

    removed = in_owner_transaction(work)
    console.print(f"client {client}: {removed} documents removed")
    if not removed:
        raise typer.Exit(1)
