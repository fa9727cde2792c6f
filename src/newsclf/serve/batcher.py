"""Dynamic batching: texts from concurrent requests share one forward pass.

A worker thread owns the model. Callers `submit` their texts and get a Future of their own rows,
in their order. The worker takes up to `max_batch_size` queued texts and runs them together.
A text that finds the model idle waits at most `max_wait_ms` for others to join it. While a
batch runs, the event loop keeps accepting requests, so the next batch fills up by itself
under load: texts that queued meanwhile have waited a whole batch already, and run as soon
as the model is free (waiting for more then would leave the model idle).

Being a thread rather than an asyncio task, it works with any event loop (uvicorn's, or a fresh
one per request under a TestClient) and from plain synchronous code.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


class QueueFullError(RuntimeError):
    """More texts are waiting than `max_queue` allows: the caller should retry later."""


class BatcherStoppedError(RuntimeError):
    """The batcher is shutting down and takes no new work."""


@dataclass
class _Request:
    """One caller's texts: rows are filled in as their batches finish."""

    size: int
    future: Future = field(default_factory=Future)
    rows: list[Any] = field(default_factory=list)
    remaining: int = 0

    def __post_init__(self) -> None:
        self.rows = [None] * self.size
        self.remaining = self.size


@dataclass
class BatchStats:
    """What the worker reports after each batch (the server turns these into metrics)."""

    size: int
    seconds: float


class DynamicBatcher:
    """Gathers texts from many callers into batches for `run_batch(texts) -> rows`."""

    def __init__(
        self,
        run_batch: Callable[[list[str]], Sequence[Any]],
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError(
                f"max_batch_size={max_batch_size}, max_queue={max_queue} must be >= 1 and "
                f"max_wait_ms={max_wait_ms} >= 0"
            )
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: deque[tuple[_Request, int, str]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def depth(self) -> int:
        """Texts waiting for a batch (not counting the one running)."""
        return len(self._queue)

    def submit(self, texts: Sequence[str]) -> Future:
        """Queue `texts`; the Future resolves to their rows in the same order."""
        request = _Request(len(texts))
        if not texts:
            request.future.set_result([])
            return request.future
        with self._cond:
            if self._stopping:
                raise BatcherStoppedError("the server is shutting down")
            if len(self._queue) + len(texts) > self.max_queue:
                raise QueueFullError(
                    f"{len(self._queue)} texts are already waiting (limit {self.max_queue})"
                )
            self._start_locked()
            self._queue.extend((request, i, text) for i, text in enumerate(texts))
            self._cond.notify()
        return request.future

    def open(self) -> None:
        """Take work again after a `stop` (an app whose lifespan runs more than once)."""
        with self._cond:
            if self._thread is not None and not self._thread.is_alive():
                self._thread = None
            self._stopping = False

    def stop(self, timeout: float | None = None) -> None:
        """Take no new work, finish everything queued, then end the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _start_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="newsclf-batcher", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        just_ran = False
        while True:
            batch = self._next_batch(just_ran)
            if not batch:
                return
            self._run(batch)
            just_ran = True

    def _next_batch(self, just_ran: bool) -> list[tuple[_Request, int, str]]:
        """Texts that queued while the last batch ran, at once; else block until a text
        arrives, then wait up to max_wait for a fuller batch."""
        with self._cond:
            if just_ran and self._queue:
                return self._take_locked()
            while not self._queue and not self._stopping:
                self._cond.wait()
            deadline = time.monotonic() + self.max_wait
            while len(self._queue) < self.max_batch_size and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._take_locked()

    def _take_locked(self) -> list[tuple[_Request, int, str]]:
        take = min(self.max_batch_size, len(self._queue))
        return [self._queue.popleft() for _ in range(take)]

    def _run(self, batch: list[tuple[_Request, int, str]]) -> None:
        start = time.perf_counter()
        try:
            rows = self.run_batch([text for _, _, text in batch])
        except Exception as err:  # one failing batch fails its callers, not the server
            for request, _, _ in batch:
                if not request.future.done():
                    request.future.set_exception(err)
            return
        if self.on_batch is not None:
            self.on_batch(BatchStats(len(batch), time.perf_counter() - start))
        for (request, i, _), row in zip(batch, rows, strict=True):
            request.rows[i] = row
            request.remaining -= 1
            if request.remaining == 0 and not request.future.done():
                request.future.set_result(request.rows)
