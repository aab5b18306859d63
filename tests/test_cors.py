"""Cross-origin requests (app/cors.py): the preflight is answered for allowed origins, responses
(errors included) carry the headers a page needs to read them, other origins get none, and the
setting is parsed strictly."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from app.asgi import create_app
from app.config import SettingError, get_settings
from app.cors import LOCAL_ORIGINS, CorsOrigins, parse_origins

PORTAL = "https://portal.district.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_a_local_dev_server_may_call_the_api_in_development(client):
    origin = "http://localhost:5173"
    preflight = await client.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers

    answer = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": origin}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == origin


async def test_other_origins_get_no_consent(client):
    preflight = await client.options("/graphql", headers={"Origin": PORTAL, **PREFLIGHT})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    answer = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": PORTAL}
    )
    assert "access-control-allow-origin" not in answer.headers


@pytest.fixture
async def portal_client(database_url):
    settings = dataclasses.replace(get_settings(), cors_origins=CorsOrigins(exact=(PORTAL,)))
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_a_configured_origin_reads_answers_and_errors(portal_client):
    preflight = await portal_client.options("/graphql", headers={"Origin": PORTAL, **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PORTAL
    assert int(preflight.headers["access-control-max-age"]) > 0

    # A refusal (a bad token) is readable too: the page can show why.
    refused = await portal_client.post(
        "/graphql",
        json={"query": "{ viewer { username } }"},
        headers={"Origin": PORTAL, "Authorization": "Bearer not-a-token"},
    )
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == PORTAL
    assert "WWW-Authenticate" in refused.headers["access-control-expose-headers"]

    # Configured origins replace the development default.
    local = await portal_client.options(
        "/graphql", headers={"Origin": "http://localhost:5173", **PREFLIGHT}
    )
    assert "access-control-allow-origin" not in local.headers


def test_the_setting_is_parsed_strictly():
    assert parse_origins(None, production=True) == CorsOrigins()
    assert parse_origins("", production=False) == CorsOrigins(pattern=LOCAL_ORIGINS)
    assert parse_origins(f" {PORTAL} , http://10.0.0.5:8080", production=True).exact == (
        PORTAL,
        "http://10.0.0.5:8080",
    )
    assert parse_origins("*", production=True) == CorsOrigins(exact=("*",))
    for bad in (f"{PORTAL}/", "portal.district.example", "https://*.district.example", "ftp://x"):
        with pytest.raises(ValueError, match="SCHOOLGRAPH_CORS_ORIGINS"):
            parse_origins(bad, production=True)


def test_a_bad_setting_stops_the_start_with_one_line(monkeypatch):
    monkeypatch.setenv("SCHOOLGRAPH_CORS_ORIGINS", "https://portal.district.example/app")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingError, match="is not an origin"):
            get_settings()
    finally:
        monkeypatch.delenv("SCHOOLGRAPH_CORS_ORIGINS")
        get_settings.cache_clear()
