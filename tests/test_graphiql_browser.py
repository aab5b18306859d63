"""GraphiQL in Chromium, driven by Playwright against a real `schoolgraph serve`: no console error
and no dialog on any load, sign-in through the Headers pane and through the sign-in bar (it
survives a reload), the examples pane, and a query built by clicking in the explorer whose
FORBIDDEN errors show in the result pane.

Uses Debian's chromium (`apt-get install chromium`; `scripts/test` installs it in CI); skipped,
saying so, where there is none.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.config import get_settings
from app.graphiql import assets
from app.seed import DEMO_PASSWORD
from tests.live import serve

CHROMIUM = (
    os.environ.get("SCHOOLGRAPH_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
TIMEOUT_MS = 30_000
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): GraphiQL untested")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        # No sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def base(database_url: str) -> Iterator[str]:
    assert assets.installed(), assets.FETCH_HINT
    with serve(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def production_base(database_url: str) -> Iterator[str]:
    """The same database served in production mode, with this checkout's development keys
    given the way production is given them."""
    home = get_settings().home
    env = {
        "SCHOOLGRAPH_ENV": "production",
        "SCHOOLGRAPH_JWT_SECRET": (home / "jwt-secret").read_text().strip(),
        "SCHOOLGRAPH_ENCRYPTION_KEY_FILE": str(home / "encryption-key"),
        "SCHOOLGRAPH_AUDIT_KEY_FILE": str(home / "audit-key"),
    }
    with serve(database_url, env) as url:
        yield url


@dataclass
class Session:
    """A browser tab on GraphiQL that records what must never happen: console errors, page
    errors and dialogs (each dialog is dismissed and counted)."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def load(self, url: str | None = None) -> int:
        """Load (or reload) the page; returns the console errors of this load."""
        before = len(self.console_errors)
        if url:
            self.page.goto(url)
        else:
            self.page.reload()
        self.page.wait_for_selector(".graphiql-container", timeout=TIMEOUT_MS)
        self.page.wait_for_load_state("networkidle")
        return len(self.console_errors) - before

    def editor(self, selector: str) -> str:
        return str(
            self.page.evaluate(
                "(selector) => document.querySelector(selector).CodeMirror.getValue()", selector
            )
        )

    def type_into(self, selector: str, text: str) -> None:
        """Replace an editor's text as a paste would."""
        self.page.click(selector)
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Delete")
        if text:
            self.page.keyboard.insert_text(text)

    def run(self) -> dict[str, Any]:
        """Press GraphiQL's run button; returns what the result pane shows."""
        pane = ".result-window .CodeMirror"
        self.page.evaluate("(s) => document.querySelector(s).CodeMirror.setValue('')", pane)
        with self.page.expect_response(lambda r: r.url.endswith("/graphql")):
            self.page.click(".graphiql-execute-button")
        # Polled from here: the page's policy allows no evaluated predicate.
        for _ in range(TIMEOUT_MS // 100):
            if shown := self.editor(pane):
                result: dict[str, Any] = json.loads(shown)
                return result
            self.page.wait_for_timeout(100)
        raise AssertionError("the result pane stayed empty")


@pytest.fixture
def session(browser: Any) -> Iterator[Session]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    tab = Session(page)
    page.on("console", lambda m: m.type == "error" and tab.console_errors.append(m.text))
    page.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    page.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    yield tab
    context.close()
    assert tab.dialogs == [], tab.dialogs
    assert tab.console_errors == [], tab.console_errors


def _token(base: str, username: str) -> str:
    response = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($i: LoginInput!) { login(input: $i) { token } }",
            "variables": {"i": {"username": username, "password": DEMO_PASSWORD}},
        },
    )
    return str(response.json()["data"]["login"]["token"])


def test_every_load_is_free_of_console_errors(session, base):
    assert session.load(f"{base}/graphql") == 0
    assert session.load() == 0
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(session.page.locator("#who")).to_have_text("not signed in")


def test_a_token_in_the_headers_pane_signs_in(session, base):
    expect = pytest.importorskip("playwright.sync_api").expect
    token = _token(base, "coordinator")
    assert session.load(f"{base}/graphql") == 0
    session.page.get_by_role("button", name="Headers").click()
    session.type_into(
        ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror",
        json.dumps({"Authorization": f"Bearer {token}"}),
    )
    session.type_into(QUERY_EDITOR, "{ viewer { username } }")
    assert session.run()["data"] == {"viewer": {"username": "coordinator"}}
    expect(session.page.locator("#who")).to_contain_text("coordinator")
    expect(session.page.locator("#who")).to_contain_text("Headers pane")
    # The headers pane is kept across reloads, and its token still wins.
    assert session.load() == 0
    expect(session.page.locator("#who")).to_contain_text("signed in as coordinator")
    assert session.run()["data"] == {"viewer": {"username": "coordinator"}}


def test_sign_in_bar_demo_picker_examples_and_explorer(session, base):
    expect = pytest.importorskip("playwright.sync_api").expect
    page = session.page
    assert session.load(f"{base}/graphql") == 0

    # A wrong password is said in the bar (the session fixture fails on any dialog).
    page.fill("#username", "coordinator")
    page.fill("#password", "not-the-password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#message.error")).not_to_be_empty()
    expect(page.locator("#who")).to_have_text("not signed in")

    # One click on a demo account signs in; a reload keeps it, and the explorer has the schema.
    page.select_option("#demo", "coordinator")
    expect(page.locator("#who")).to_contain_text("signed in as coordinator")
    assert session.load() == 0
    expect(page.locator("#who")).to_contain_text("signed in as coordinator")
    explorer = page.locator(".graphiql-explorer-root")
    expect(explorer.locator("[data-field-name=students]").first).to_be_visible()

    # The examples pane lists the coordinator's examples; one click loads one.
    page.get_by_role("button", name="Show Examples").click()
    example = page.get_by_role("button", name="My students without a recorded email")
    example.click()
    assert "query MyStudentsEmails" in session.editor(QUERY_EDITOR)

    # Build `students { edges { node { firstName email } } }` by clicking in the explorer.
    session.type_into(QUERY_EDITOR, "")
    # GraphiQL passes an edit on to the explorer after a short debounce: clicked before, the
    # explorer would add its operation to the example's text it still holds (two operations).
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Show GraphiQL Explorer").click()
    for path in ("students", "students edges", "students edges node"):
        scope = "".join(f" .graphiql-explorer-{name}" for name in path.split()[:-1])
        last = path.split()[-1]
        if f"{last} {{" not in session.editor(QUERY_EDITOR):
            page.click(f".graphiql-explorer-root{scope} [data-field-name={last}]")
    node = ".graphiql-explorer-root .graphiql-explorer-students .graphiql-explorer-node"
    for leaf in ("firstName", "email"):
        if leaf not in session.editor(QUERY_EDITOR):
            page.click(f"{node} [data-field-name={leaf}]")
    built = session.editor(QUERY_EDITOR)
    assert "students" in built and "firstName" in built and "email" in built, built
    assert built.count("query") <= 1, built

    result = session.run()
    assert "data" in result and result["data"]["students"]["edges"], (built, result)
    codes = {e["extensions"]["code"] for e in result["errors"]}
    assert codes == {"FORBIDDEN"}, result["errors"]
    assert any("email" in e["message"] for e in result["errors"]), result["errors"]


def test_production_asks_to_sign_in_then_fetches_the_schema(session, base, production_base):
    expect = pytest.importorskip("playwright.sync_api").expect
    page = session.page
    assert session.load(f"{production_base}/graphql") == 0
    assert page.locator("#demo").count() == 0
    expect(page.locator("#message")).to_contain_text("Sign in to see the schema")
    assert "Error fetching schema" not in page.locator("body").inner_text()
    assert DEMO_PASSWORD not in session.editor(QUERY_EDITOR)
    # A token pasted into the bar: the explorer gets the schema with no manual re-fetch.
    page.fill("#token", _token(base, "coordinator"))
    page.click("#token-form button[type=submit]")
    expect(page.locator("#who")).to_contain_text("signed in as coordinator")
    explorer = page.locator(".graphiql-explorer-root")
    expect(explorer.locator("[data-field-name=students]").first).to_be_visible()
    assert session.load() == 0
    expect(explorer.locator("[data-field-name=students]").first).to_be_visible()
    assert "Error fetching schema" not in page.locator("body").inner_text()
