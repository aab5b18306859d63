"""The server's logging: uvicorn's own configuration, plus SchoolGraph's loggers on stderr.

Refused requests leave one `refused code=… request_id=…` line at INFO in `schoolgraph.errors`;
unexpected failures leave their traceback at ERROR (docs/errors.md). Without a handler of their
own, INFO lines would be dropped and tracebacks printed bare.
"""

from __future__ import annotations

import copy
from typing import Any

from uvicorn.config import LOGGING_CONFIG

# Loggers of this code base: `schoolgraph.*` by name, `app.*` and `schema.*` by module.
_OURS = ("schoolgraph", "app", "schema")


def config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` mapping for `uvicorn.run(log_config=...)`."""
    settings: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    settings["formatters"]["schoolgraph"] = {
        "format": "%(asctime)s %(levelname)s %(name)s %(message)s"
    }
    settings["handlers"]["schoolgraph"] = {
        "formatter": "schoolgraph",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    for name in _OURS:
        settings["loggers"][name] = {
            "handlers": ["schoolgraph"],
            "level": level,
            "propagate": False,
        }
    return settings
