"""A small pool of threads for the engine calls of requests, awaited from the event loop.

`anyio.to_thread.run_sync` (Starlette's `run_in_threadpool`) is general: a capacity limiter,
cancel scopes, a context copy and a thread per idle worker lookup, a visible share of a
recommendation's CPU; this pool is a queue and one `call_soon_threadsafe` per call. Work
already started is not interrupted when its awaiting request is cancelled (a request timeout),
as with anyio; work still queued then is skipped.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from attune.log import get_logger

_log = get_logger(__name__)

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class ThreadPool:
    """`size` daemon threads running callables for coroutines of any event loop."""

    def __init__(self, size: int, name: str = "attune-engine") -> None:
        if size < 1:
            raise ValueError("a thread pool needs at least one thread")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """A future of `fn()` run on one of the threads; await it from the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn))
        return future

    def close(self) -> None:
        """Finish the queued work, then stop the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn = job
            if future.cancelled():  # its request timed out while queued: nobody awaits it
                continue
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the awaiting coroutine
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop closed meanwhile: nobody awaits the answer
                _log.debug("engine call finished after its event loop closed")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
