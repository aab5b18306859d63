"""`schoolgraph create-admin` (app/passwords/first_admin.py), run as the database's owner like
the other operator commands."""

from __future__ import annotations

import asyncio
import getpass
import sys

import typer
from rich.console import Console

from app.config import get_settings
from app.writes import WriteRefused

console = Console()


def _password(personal: tuple[str | None, ...]) -> str:
    """Ask twice at the terminal, until the rule accepts it and both agree."""
    from app.passwords.first_admin import check_password

    while True:
        first = getpass.getpass("Password for the new administrator: ")
        try:
            check_password(first, personal=personal)
        except WriteRefused as refusal:
            console.print(f"[red]{refusal}[/red]", soft_wrap=True)
            continue
        if getpass.getpass("Again: ") == first:
            return first
        console.print("[red]the two passwords differ[/red]")


def create_admin(
    district: str = typer.Option(..., help="District name (made if no district has it) or id."),
    username: str = typer.Option("admin", help="Username of the new administrator."),
    email: str | None = typer.Option(None, help="Their email address."),
    first: str = typer.Option("District", help="First name."),
    last: str = typer.Option("Administrator", help="Last name."),
    invite: bool = typer.Option(
        False,
        "--invite",
        help="Print a one-time invitation token even at a terminal (the default elsewhere).",
    ),
) -> None:
    """Make the first district administrator of a new deployment (audited).

    At a terminal it asks for a password (twice); otherwise, or with --invite, it prints a one-time invitation token to redeem with `redeemPasswordToken`. A password is never an argument.
    """  # noqa: E501 (one paragraph in --help)
    from app.database import create_engine, resolve_migrate_url
    from app.passwords.first_admin import NewAdmin
    from app.passwords.first_admin import create_admin as make
    from app.roles import RoleError

    password = None
    if not invite and sys.stdin.isatty():
        password = _password((username, first, last, email))
    settings = get_settings()
    try:
        url = resolve_migrate_url(settings)
    except RoleError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None

    async def run() -> NewAdmin:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                return await make(
                    connection,
                    settings,
                    district=district,
                    username=username,
                    first_name=first,
                    last_name=last,
                    email=email,
                    password=password,
                    by=getpass.getuser(),
                )
        finally:
            await engine.dispose()

    try:
        made = asyncio.run(run())
    except WriteRefused as refusal:
        console.print(f"[red]{refusal}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    if made.district_created:
        console.print(f"made district {district!r} (id {made.district_id})")
    console.print(f"made {made.username!r} (user {made.user_id}), district administrator (audited)")
    if made.token is not None:
        console.print(
            f"one-time invitation, valid until {made.expires_at:%Y-%m-%d %H:%M %Z}: redeem it"
            " with the redeemPasswordToken mutation to set the password"
        )
        print(made.token)
