"""The GraphiQL page: markup only, no inline script or style, under a strict CSP.

What the script needs to know (production or not, the demo accounts, the documents it sends)
travels in `data-` attributes of the body; the demo password is there only where demo accounts
exist.
"""

from __future__ import annotations

import json
from html import escape

from starlette.responses import HTMLResponse

from app.config import Settings
from app.graphiql import assets, documents

# Scripts, styles and connections to this origin only. GraphiQL sets inline styles and embeds its
# fonts and icons as data: URIs; it starts no workers and loads nothing from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# The empty data: icon keeps the browser from asking for /favicon.ico, whose 404 it would log as
# a console error on every load.
_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>SchoolGraph · GraphiQL</title>
  <link rel="icon" href="data:,">
{head}
  <link rel="stylesheet" href="/graphiql/app/graphiql-app.css">
</head>
<body{data}>
  <header id="signin">
    <strong>SchoolGraph</strong>
    <form id="login-form">
      <input id="username" autocomplete="username" placeholder="username" required>
      <input id="password" type="password" autocomplete="current-password"
             placeholder="password" required>
      <input id="otp" inputmode="numeric" autocomplete="one-time-code"
             placeholder="6-digit code" hidden>
      <button type="submit">Sign in</button>
    </form>
{picker}
    <form id="token-form">
      <input id="token" placeholder="…or paste a bearer token">
      <button type="submit">Use token</button>
    </form>
    <span id="message" role="status"></span>
    <span id="who">not signed in</span>
    <button id="signout" type="button" hidden>Sign out</button>
  </header>
  <div id="graphiql"></div>
{body}
</body>
</html>
"""

_MISSING = """  <p id="missing">GraphiQL's files are not installed on this server: {hint}.</p>"""


def _picker(settings: Settings) -> str:
    if not settings.demo:
        return ""
    from app.seed import DEMO_ACCOUNTS

    options = "".join(
        f'\n      <option value="{escape(a.username)}" title="{escape(a.description)}">'
        f"{escape(a.username)} ({escape(a.role)})</option>"
        for a in DEMO_ACCOUNTS
    )
    return (
        '    <select id="demo" aria-label="sign in as a demo account">\n'
        f'      <option value="">demo account…</option>{options}\n'
        "    </select>"
    )


def render(settings: Settings) -> str:
    data = {
        "production": json.dumps(settings.production),
        "sign-in": documents.SIGN_IN,
        "who-am-i": documents.WHO_AM_I,
    }
    if settings.demo:
        from app.seed import DEMO_PASSWORD

        data["demo-password"] = DEMO_PASSWORD
    attributes = "".join(f' data-{name}="{escape(value)}"' for name, value in data.items())
    if assets.installed():
        head = "\n".join(
            f'  <link rel="stylesheet" href="/graphiql/vendor/{name}">' for name in assets.STYLES
        )
        scripts = [f"/graphiql/vendor/{name}" for name in assets.SCRIPTS]
        scripts.append("/graphiql/app/graphiql-app.js")
        body = "\n".join(f'  <script src="{src}"></script>' for src in scripts)
    else:
        head, body = "", _MISSING.format(hint=escape(assets.FETCH_HINT))
    return _TEMPLATE.format(head=head, data=attributes, picker=_picker(settings), body=body)


def page(settings: Settings) -> HTMLResponse:
    return HTMLResponse(render(settings), headers={"Content-Security-Policy": CSP})
