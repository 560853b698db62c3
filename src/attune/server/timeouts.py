"""The per-request timeout: a request not answered within `request_timeout_s` gets a 503
problem with `Retry-After`.

The request's task is cancelled, not the work it handed to an engine thread: an engine call
already running finishes there (the engine's lock and its log stay consistent), and one still
queued is skipped (server/offload.py). For a write the caller then cannot know whether it was
applied; a retry with the same `event_id` is safe. Once the response has started it is not
timed any more (a long download is not cut off halfway).

One sweeper task per event loop checks the requests in flight a few times per timeout, rather
than a timer per request (`asyncio.timeout` costs several times more per request than this
whole middleware): a request is cut off between `request_timeout_s` and a quarter of it (at
most half a second) later.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune.log import get_logger
from attune.server.metrics import Metrics
from attune.server.problems import loggable_path, problem_response

_log = get_logger(__name__)

RETRY_AFTER_S = 1
"""What a timed-out caller is told to wait: the server is slow, not refusing it."""


class RequestTimeout:
    """ASGI middleware: 503 for a request whose response has not started after `seconds`."""

    def __init__(self, app: ASGIApp, seconds: float, metrics: Metrics) -> None:
        self.app = app
        self.seconds = seconds
        self.metrics = metrics
        self.interval = min(0.5, seconds / 4)
        self._waiting: dict[asyncio.Task[object], float] = {}  # request task: started (loop time)
        self._expired: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:
            await self.app(scope, receive, send)
            return
        self._watch(task)
        answered = False

        async def answering(message: Message) -> None:
            nonlocal answered
            if not answered and message["type"] == "http.response.start":
                answered = True
                self._waiting.pop(task, None)  # answered in time: the body is not timed
            await send(message)

        try:
            await self.app(scope, receive, answering)
        except asyncio.CancelledError:
            if task not in self._expired or answered or task.uncancel() > 0:
                raise  # cancelled by someone else too (the server shutting down)
            await self._timed_out(scope, receive, send)
        finally:
            self._waiting.pop(task, None)
            self._expired.discard(task)

    def _watch(self, task: asyncio.Task[object]) -> None:
        loop = task.get_loop()
        self._waiting[task] = loop.time()
        if self._sweeper is None or self._loop is not loop:  # none, or one of a closed loop
            self._loop = loop
            self._sweeper = loop.create_task(self._sweep(loop), name="attune-request-timeout")

    async def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel the requests waiting longer than `seconds`; stop once none is in flight
        (the next request starts another sweeper)."""
        try:
            while self._waiting:
                await asyncio.sleep(self.interval)
                late = loop.time() - self.seconds
                for task, started in list(self._waiting.items()):
                    if started <= late:
                        del self._waiting[task]
                        self._expired.add(task)
                        task.cancel()
        finally:
            if self._loop is loop:
                self._sweeper = None

    async def _timed_out(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.request_timeouts.inc()
        _log.warning(
            "request timed out",
            method=scope["method"],
            path=loggable_path(scope),
            timeout_s=self.seconds,
        )
        detail = f"no answer within {self.seconds:g} s; the server is overloaded or stuck"
        response = problem_response(503, detail, headers={"Retry-After": str(RETRY_AFTER_S)})
        await response(scope, receive, send)
