"""GraphiQL, served by the app itself so that it works with no internet connection.

- `assets`: GraphiQL, React and the explorer plugin, fetched from the npm registry at install
  time (pinned, integrity-checked) and served from the installed environment;
- `markup`: the page and its Content-Security-Policy;
- `examples`: the example queries of each role (`examples/<role>/*.graphql`);
- `static/`: our own script and style: the sign-in bar, the fetcher, the examples pane.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.staticfiles import StaticFiles

from app.graphiql import assets
from app.graphiql.examples import examples_endpoint
from app.graphiql.markup import page

__all__ = ["app_files", "examples_endpoint", "page", "vendor_files", "warn_if_missing"]

_log = logging.getLogger(__name__)

APP_DIR = Path(__file__).resolve().parent / "static"


def vendor_files() -> StaticFiles:
    # Not checked at start: a server without the files still serves the API, and the page says
    # how to get them.
    return StaticFiles(directory=assets.assets_dir(), check_dir=False)


def app_files() -> StaticFiles:
    return StaticFiles(directory=APP_DIR)


def warn_if_missing() -> None:
    if not assets.installed():
        _log.warning("GraphiQL is unavailable: %s", assets.FETCH_HINT)
