"""Small assert helpers for GraphQL responses, and an app with settings of its own."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from app.asgi import create_app
from app.config import Settings, get_settings

# The demo accounts of SPEC §12, one per role.
DEMO_ACCOUNTS = (
    "admin",
    "principal",
    "coordinator",
    "designee",
    "teacher",
    "guardian",
    "student",
    "reporter",
    "support",
)


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app`, its lifespan started."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@asynccontextmanager
async def app_client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real ASGI application (lifespan included) built with `settings`."""
    async with serving(create_app(settings, database_url=database_url)) as client:
        yield client


@asynccontextmanager
async def compiled_and_reference(
    database_url: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Clients of two applications over one database, each with its own plans and pool: compiled
    execution on, and off (the reference)."""
    configured = get_settings()
    compiled = dataclasses.replace(configured, compiled_execution=True)
    reference = dataclasses.replace(configured, compiled_execution=False)
    async with app_client(compiled, database_url) as a, app_client(reference, database_url) as b:
        yield a, b


@dataclass
class GraphQLResponse:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])

    @property
    def statements(self) -> int:
        return int(self.body["extensions"]["sqlStatements"])

    def ok(self) -> Any:
        """The data, after checking there was no error at all."""
        assert self.status == 200, self.body
        assert not self.errors, self.errors
        return self.data


def forbidden_errors(response: GraphQLResponse) -> dict[str, dict[str, Any]]:
    """FORBIDDEN errors by path pattern."""
    return {
        e["extensions"]["pathPattern"]: e["extensions"]
        for e in response.errors
        if e.get("extensions", {}).get("code") == "FORBIDDEN" and "pathPattern" in e["extensions"]
    }


def assert_forbidden(response: GraphQLResponse, pattern: str, field_class: str) -> int:
    """The field pattern was redacted with that class; returns how many values were withheld."""
    found = forbidden_errors(response)
    assert pattern in found, f"{pattern} not redacted; errors: {response.errors}"
    assert found[pattern]["fieldClass"] == field_class
    return int(found[pattern]["count"])


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]
