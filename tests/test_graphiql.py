"""GraphiQL over HTTP: the page and its policy, its third-party files, and the example queries
(each run as the demo account of its role). The browser itself is driven in
test_graphiql_browser.py."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from app.config import get_settings
from app.graphiql import assets, markup
from app.graphiql.examples import load_examples
from app.seed import DEMO_ACCOUNTS, DEMO_PASSWORD

ROLE_ACCOUNTS = {account.role: account.username for account in DEMO_ACCOUNTS}


async def test_page_lists_the_demo_accounts_in_development(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    html = response.text
    for account in DEMO_ACCOUNTS:
        assert f'<option value="{account.username}" title=' in html
    assert f'data-demo-password="{DEMO_PASSWORD}"' in html
    assert 'data-production="false"' in html


def test_production_page_has_no_demo_password_and_no_picker():
    settings = get_settings()
    production = dataclasses.replace(settings, environment="production")
    html = markup.render(production)
    assert DEMO_PASSWORD not in html
    assert 'id="demo"' not in html
    assert 'data-production="true"' in html
    # The default query lives in the script; it suggests no password in any environment.
    script = (Path(markup.__file__).parent / "static" / "graphiql-app.js").read_text()
    assert DEMO_PASSWORD not in script and "password-1" not in script


async def test_page_has_no_inline_script_and_a_strict_policy(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "font-src 'self' data:" in policy
    assert "unsafe-eval" not in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", response.text)  # no inline event handlers


async def test_the_explorer_and_react_are_served_locally(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    sources = re.findall(r'<script src="([^"]+)"', response.text)
    assert [s.rsplit("/", 1)[-1] for s in sources] == [*assets.SCRIPTS, "graphiql-app.js"]
    explorer = await client.get("/graphiql/vendor/explorer.umd.js")
    assert explorer.status_code == 200
    assert "GraphiQLPluginExplorer" in explorer.text


def test_integrity_is_checked():
    data = b"not the tarball"
    with pytest.raises(assets.AssetError, match="integrity mismatch"):
        assets.check_integrity(data, assets.PACKAGES[0].integrity)
    with pytest.raises(assets.AssetError, match="sha512 expected"):
        assets.check_integrity(data, "sha1-abc")


def test_fetching_again_needs_no_network(monkeypatch):
    assets.fetch()
    # A registry nobody answers on: the files already in place are enough.
    monkeypatch.setenv("SCHOOLGRAPH_NPM_REGISTRY", "http://127.0.0.1:9")
    folder = assets.fetch()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        name for package in assets.PACKAGES for name in package.files
    )


def test_a_missing_install_says_how_to_get_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHOOLGRAPH_GRAPHIQL_ASSETS", str(tmp_path))
    assert not assets.installed()
    html = markup.render(get_settings())
    assert "schoolgraph graphiql-assets" in html
    assert "<script" not in html


def test_fetch_refuses_an_unreachable_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHOOLGRAPH_GRAPHIQL_ASSETS", str(tmp_path / "assets"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SCHOOLGRAPH_NPM_REGISTRY", "http://127.0.0.1:9")
    with pytest.raises(assets.AssetError, match="could not fetch"):
        assets.fetch()
    assert not assets.installed()


# --- the examples -------------------------------------------------------------------------


def test_every_role_has_examples_and_the_promised_ones_exist():
    examples = load_examples()
    assert {e.role for e in examples} == set(ROLE_ACCOUNTS)
    titles = {(e.role, e.title) for e in examples}
    assert ("teacher", "My class's marks") in titles
    assert ("teacher", "My students without a recorded email") in titles
    assert ("guardian", "Who saw my child's record") in titles


async def test_examples_are_served_as_json(client):
    response = await client.get("/graphiql/examples.json")
    assert response.status_code == 200
    served = {(e["role"], e["name"]) for e in response.json()}
    assert served == {(e.role, e.name) for e in load_examples()}


@pytest.mark.parametrize("example", load_examples(), ids=lambda e: f"{e.role}/{e.name}")
async def test_example_answers_for_its_role(gql, example):
    response = await gql(example.query, as_user=ROLE_ACCOUNTS[example.role])
    assert response.status == 200, response.body
    assert response.data is not None, response.errors
    assert all(v is not None for v in response.data.values()), response.body
    codes = {e.get("extensions", {}).get("code") for e in response.errors}
    assert codes <= {"FORBIDDEN"}, response.errors
