"""Response bodies as JSON, large ones encoded off the event loop and in slices.

```python
data = await encoded_if_large(result.data, pool)
body = orjson.dumps({"data": data, "errors": errors})  # the same bytes as without the first line
```

orjson encodes about 0.7 GB/s here, so a page of a few hundred rows costs well under a
millisecond and is encoded where it is (a thread hop would cost more). From `OFF_LOOP_BYTES` on,
the stall would be noticed by every other request of the process: such a body is encoded in a
worker thread. A thread alone is not enough, though: orjson holds the GIL for the whole call, so
one call on 18 MB still froze the loop for all of its 30 ms. The body is therefore encoded in
slices of about `SLICE_BYTES` (a fraction of a millisecond each), between which the interpreter
can hand the GIL back to the loop; the slices are joined into exactly the bytes one call gives.

Sizes are estimated, not measured (measuring is encoding): lists are sized from their first and
last items, so the estimate costs a few microseconds whatever the body's size.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.offload import WorkerPool

# Above this estimate a body is encoded off the loop: about 1.5 ms of encoding on this hardware,
# the most a request should stall its neighbours for (docs/login-protection.md, "Large bodies").
OFF_LOOP_BYTES = 1 << 20
# The most one orjson call encodes in a sliced encode: about a third of a millisecond.
SLICE_BYTES = 1 << 18


def estimate(value: Any) -> int:
    """About how many bytes `orjson.dumps(value)` makes, from a sample of each list."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(len(key) + 4 + estimate(item) for key, item in value.items())
    if isinstance(value, list):
        if not value:
            return 2
        return 2 + len(value) * ((estimate(value[0]) + estimate(value[-1])) // 2 + 1)
    return 8  # numbers, booleans, null


def encode_in_slices(value: Any) -> list[bytes]:
    """`orjson.dumps(value)` as pieces, none encoding much more than `SLICE_BYTES`."""
    pieces: list[bytes] = []
    _slice(value, estimate(value), pieces)
    return pieces


def _slice(value: Any, size: int, pieces: list[bytes]) -> None:
    if size <= SLICE_BYTES:
        pieces.append(orjson.dumps(value))
    elif isinstance(value, dict):
        pieces.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            pieces.append((b"," if index else b"") + orjson.dumps(key) + b":")
            _slice(item, estimate(item), pieces)
        pieces.append(b"}")
    elif isinstance(value, list):
        per_item = max(1, size // len(value))
        pieces.append(b"[")
        if per_item > SLICE_BYTES:  # each item is large: slice inside it
            for index, item in enumerate(value):
                if index:
                    pieces.append(b",")
                _slice(item, estimate(item), pieces)
        else:  # runs of items, one call each, without the run's own brackets
            run = max(1, SLICE_BYTES // per_item)
            for start in range(0, len(value), run):
                if start:
                    pieces.append(b",")
                pieces.append(orjson.dumps(value[start : start + run])[1:-1])
        pieces.append(b"]")
    else:
        pieces.append(orjson.dumps(value))


def _encode_joined(value: Any) -> bytes:
    return b"".join(encode_in_slices(value))


async def encoded_if_large(value: Any, pool: WorkerPool) -> Any:
    """`value` itself when it is small; else its JSON, encoded in slices in `pool`'s threads, as
    an `orjson.Fragment`, which the `orjson.dumps` of the enclosing response copies as it is."""
    if estimate(value) < OFF_LOOP_BYTES:
        return value
    return orjson.Fragment(await pool.run(_encode_joined, value))
