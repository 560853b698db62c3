"""On a shared store, brings this server's in-memory catalogue and user attributes up to what
the other servers stored, every `store_poll_s` seconds (`Engine.follow_store`).

A poll that fails (the store unreachable for a moment) is logged and retried at the next one:
nothing is lost, since the next poll reads from the last position applied.
"""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool

from attune.engine.engine import Engine
from attune.log import get_logger

_log = get_logger(__name__)


class StoreWatcher:
    """Calls `engine.follow_store()` every `interval_s` seconds."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self.engine = engine
        self.interval_s = interval_s

    async def check(self) -> int:
        """One poll; how many items and users changed (0 after a failure, which is logged)."""
        try:
            return await run_in_threadpool(self.engine.follow_store)
        except Exception as err:  # the poll is retried; a failure must not end the task
            _log.warning("reading the store's changes failed; retrying", error=str(err))
            return 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()
