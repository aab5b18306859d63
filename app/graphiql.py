"""GraphiQL, served by the app itself so that it works with no internet connection.

GraphiQL, React and their CSS come from the `graphene-django-graphiql-static` package (installed
from PyPI like any dependency; nothing is copied into this repository). The page and its small
sign-in script (`static/graphiql-app.js`) are ours: sign in with a username and password through
the `login` mutation, or paste a token; the token is kept in the browser's local storage and
sent as `Authorization: Bearer ...`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

VENDOR_DIR = Path(
    str(files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static")
)
APP_DIR = Path(__file__).resolve().parent / "static"

# Scripts only from this origin; GraphiQL sets inline styles, so styles may be inline.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>SchoolGraph · GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/vendor/graphiql.min.css">
  <link rel="stylesheet" href="/graphiql/app/graphiql-app.css">
  <script src="/graphiql/vendor/react.production.min.js"></script>
  <script src="/graphiql/vendor/react-dom.production.min.js"></script>
  <script src="/graphiql/vendor/graphiql.min.js"></script>
</head>
<body>
  <header id="signin">
    <strong>SchoolGraph</strong>
    <form id="login-form">
      <input id="username" autocomplete="username" placeholder="username" required>
      <input id="password" type="password" autocomplete="current-password"
             placeholder="password" required>
      <button type="submit">Sign in</button>
    </form>
    <form id="token-form">
      <input id="token" placeholder="…or paste a bearer token">
      <button type="submit">Use token</button>
    </form>
    <span id="who">not signed in</span>
    <button id="signout" type="button">Sign out</button>
  </header>
  <div id="graphiql"></div>
  <script src="/graphiql/app/graphiql-app.js"></script>
</body>
</html>
"""


def page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})


vendor_files = StaticFiles(directory=VENDOR_DIR)
app_files = StaticFiles(directory=APP_DIR)
