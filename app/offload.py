"""CPU-heavy work off the event loop: bounded pools of worker threads.

One event loop serves every request of a process, so a step that holds the CPU for tens of
milliseconds (an argon2 hash, the encoding of a large response) stalls everything else, `/healthz`
included. Such steps run in a `WorkerPool` instead:

```python
hashing = WorkerPool("password-hash", workers=2, queue=16)
ok = await hashing.run(verify_password, stored_hash, password)  # may raise PoolBusy
```

The pool has about one thread per core: more threads would not make the work faster, only
interleave it and multiply its memory (each argon2 hash holds 64 MiB while it runs). Work beyond
the threads waits its turn; with a `queue` limit, work beyond that many waiting is refused at once
(`PoolBusy`) rather than left to pile up, since each waiting login also holds a database
connection and the row of its account.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class PoolBusy(Exception):
    """The pool's queue is full; the caller should try again in `retry_after` seconds."""

    def __init__(self, name: str, retry_after: int) -> None:
        super().__init__(f"the server is busy ({name}); try again in {retry_after} s")
        self.retry_after = retry_after


class WorkerPool:
    """At most `workers` calls run at once, in threads; at most `queue` more wait (None: any)."""

    def __init__(self, name: str, *, workers: int, queue: int | None = None) -> None:
        self.name = name
        self.workers = max(1, workers)
        self.queue = queue
        self.calls = 0  # calls accepted
        self.running = 0  # calls running in a thread right now
        self._running_lock = threading.Lock()
        self._pending = 0  # running or waiting
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=name)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.queue is not None and self._pending >= self.workers + self.queue:
            # A second is about what the queue takes to drain; the client may retry then.
            raise PoolBusy(self.name, retry_after=1)
        self._pending += 1
        try:
            self.calls += 1
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._call, function, args, kwargs)
        finally:
            self._pending -= 1

    def _call(self, function: Callable[..., T], args: Any, kwargs: Any) -> T:
        with self._running_lock:
            self.running += 1
        try:
            return function(*args, **kwargs)
        finally:
            with self._running_lock:
                self.running -= 1

    def close(self) -> None:
        """Let running calls finish; start no new ones."""
        self._executor.shutdown(wait=False, cancel_futures=True)
