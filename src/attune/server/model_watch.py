"""Follows a model registry while serving: when another process promotes or rolls back a
version, the engine hot-swaps to it.

Polling the registry's pointer every few seconds (a small JSON file, or on a shared store its
key there, which every server polls) is simpler and more robust than a notification channel
between `attune models promote` and the servers, and a few seconds of delay is fine for a
model change. A version that fails to load is logged and counted, the current model
keeps serving, and the same version is not retried until the registry points elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from attune.engine.engine import Engine, load_model
from attune.learning.registry import ModelRegistry
from attune.log import get_logger

_log = get_logger(__name__)


class ModelWatcher:
    """Polls `registry.current()` and swaps the engine's model when it changes."""

    def __init__(
        self,
        engine: Engine,
        registry: ModelRegistry,
        interval_s: float,
        on_failure: Callable[[int, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.interval_s = interval_s
        self.on_failure = on_failure
        self._failed: int | None = None

    async def check(self) -> bool:
        """One poll; True when the engine swapped to another version."""
        try:
            current = await run_in_threadpool(self.registry.current)
        except Exception as err:  # a registry or shared store unreadable now: poll again later
            _log.error("model registry unreadable; keeping the current model", error=str(err))
            return False
        if current is None or current == self.engine.model.version or current == self._failed:
            return False
        try:
            model = await run_in_threadpool(
                lambda: load_model(self.registry.path(current), current, self.engine.config.device)
            )
        except Exception as err:  # any failure to load must leave the served model alone
            self._failed = current
            _log.error(
                "model version refused; keeping the current one",
                version=current,
                serving=self.engine.model.version,
                error=str(err),
            )
            if self.on_failure is not None:
                self.on_failure(current, str(err))
            return False
        await run_in_threadpool(self.engine.swap_model, model)
        self._failed = None
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()
