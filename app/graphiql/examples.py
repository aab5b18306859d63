"""Example queries for each role, kept as `.graphql` files in `examples/<role>/`.

A file's first comment line is its title and the comment lines after it its description; the
whole file, comments included, is what the examples pane loads into the editor. The pane lists
the examples of the signed-in viewer's roles (a role's name as `viewer.roles[].role` gives it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@dataclass(frozen=True)
class Example:
    role: str
    name: str
    title: str
    description: str
    query: str


def _parse(role: str, path: Path) -> Example:
    text = path.read_text(encoding="utf-8")
    comments: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        comments.append(line.lstrip("#").strip())
    title = comments[0] if comments else path.stem.replace("-", " ")
    return Example(role, path.stem, title, " ".join(comments[1:]), text)


@cache
def load_examples() -> tuple[Example, ...]:
    """Every example, by role and then by file name."""
    return tuple(
        _parse(folder.name, path)
        for folder in sorted(EXAMPLES_DIR.iterdir())
        if folder.is_dir()
        for path in sorted(folder.glob("*.graphql"))
    )


async def examples_endpoint(request: Request) -> JSONResponse:
    """The examples as JSON (they are public: a role's example says nothing about any record)."""
    return JSONResponse([asdict(example) for example in load_examples()])
