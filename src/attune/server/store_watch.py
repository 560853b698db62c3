"""On a shared store, brings this server's in-memory catalogue and user attributes up to what
the other servers stored, every `store_poll_s` seconds (`Engine.follow_store`).

A poll that fails (the store unreachable for a moment) is retried at the next one: nothing is
lost, since the next poll reads from the last position applied. The first failure of an
outage is logged, and the poll that succeeds again; the polls between are not (one line a
second for the whole outage would bury the requests' lines).
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
        self.failing = False
        """Whether the last poll failed."""

    async def check(self) -> int:
        """One poll; how many items and users changed (0 after a failure)."""
        try:
            changed = await run_in_threadpool(self.engine.follow_store)
        except Exception as err:  # the poll is retried; a failure must not end the task
            if not self.failing:
                _log.warning("reading the store's changes failed; retrying", error=str(err))
            self.failing = True
            return 0
        if self.failing:
            _log.info("reading the store's changes again")
            self.failing = False
        return changed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()
