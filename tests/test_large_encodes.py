"""Large response bodies are encoded off the event loop, in slices, to the same bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from app.encoding import (
    OFF_LOOP_BYTES,
    SLICE_BYTES,
    encode_in_slices,
    encoded_if_large,
    estimate,
)
from app.offload import WorkerPool


def _page(rows: int) -> dict[str, Any]:
    """A body shaped like a page of students with their marks."""
    return {
        "students": {
            "edges": [
                {
                    "cursor": f"c{i}",
                    "node": {
                        "id": f"U3R1ZGVudDo{i}",
                        "firstName": "Zoë",
                        "lastName": "Ångström-Ôtake",
                        "gradeLevel": 11,
                        "email": None,
                        "optedOut": i % 2 == 0,
                        "marks": [{"value": 91.25 + j, "term": "2025-FALL"} for j in range(5)],
                    },
                }
                for i in range(rows)
            ],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
    }


@pytest.fixture
async def pool() -> Any:
    workers = WorkerPool("test-encode", workers=1)
    yield workers
    workers.close()


@pytest.mark.parametrize(
    "value",
    [
        _page(30_000),
        [_page(2_000) for _ in range(3)],  # a list whose items are each larger than a slice
        {"a": [], "b": {}, "c": [[]], "d": [list(range(200_000))], "e": "x" * 400_000},
        [None, True, 1.5, "é", {"k": []}] * 100_000,
    ],
    ids=["page", "list-of-large-items", "edges", "scalars"],
)
def test_slices_join_into_exactly_what_one_call_makes(value: Any) -> None:
    pieces = encode_in_slices(value)
    assert b"".join(pieces) == orjson.dumps(value)
    assert len(pieces) > 1


def test_no_slice_is_much_larger_than_the_slice_size() -> None:
    pieces = encode_in_slices(_page(30_000))
    assert max(len(piece) for piece in pieces) <= 2 * SLICE_BYTES


def test_the_estimate_is_near_the_real_size() -> None:
    value = _page(10_000)
    assert 0.8 < estimate(value) / len(orjson.dumps(value)) < 1.25


async def test_a_small_body_is_left_to_the_response(pool: WorkerPool) -> None:
    value = _page(10)
    assert estimate(value) < OFF_LOOP_BYTES
    assert await encoded_if_large(value, pool) is value
    assert pool.calls == 0


async def test_a_large_body_lets_the_loop_run_while_it_is_encoded(pool: WorkerPool) -> None:
    value = _page(40_000)  # about 30 MB: tens of milliseconds of encoding
    encoding = asyncio.create_task(encoded_if_large(value, pool))
    await asyncio.sleep(0)  # the encode is handed to its thread
    turns = 0
    while not encoding.done():
        await asyncio.sleep(0.001)
        turns += 1
    # One orjson call holds the GIL throughout, and the loop gets no turn (measured: 1).
    assert turns >= 3
    fragment = encoding.result()
    assert isinstance(fragment, orjson.Fragment)
    assert orjson.dumps({"data": fragment}) == orjson.dumps({"data": value})
    assert pool.calls == 1


async def test_a_large_response_over_http_is_encoded_off_the_loop(
    app: Starlette,
    client: httpx.AsyncClient,
    token_for: Callable[[str], Awaitable[str]],
) -> None:
    headers = {"Authorization": f"Bearer {await token_for('admin')}"}
    # Directory fields only: reading them records no disclosure.
    fields = "edges { node { id firstName lastName displayName gradeLevel school { name } } }"

    async def ask(query: str) -> httpx.Response:
        return await client.post("/graphql", json={"query": query}, headers=headers)

    before = app.state.encodes.calls
    small = await ask("{ students(first: 2) { " + fields + " } }")
    assert small.status_code == 200 and app.state.encodes.calls == before
    pages = " ".join(f"p{i}: students(first: 400) {{ {fields} }}" for i in range(24))
    large = await ask("{ " + pages + " }")
    assert large.status_code == 200, large.text
    assert app.state.encodes.calls == before + 1
    assert int(large.headers["content-length"]) == len(large.content) > OFF_LOOP_BYTES
    data = large.json()["data"]
    assert len(data) == 24 and all(page == data["p0"] for page in data.values())
    assert len(data["p0"]["edges"]) > 0
