"""Follows a model registry while serving: when another process promotes or rolls back a
version, the engine hot-swaps to it; when one starts or stops an online A/B test, the engine
starts or stops serving its challenger.

Polling the registry's pointer every few seconds (a small JSON file, or on a shared store its
key there, which every server polls) is simpler and more robust than a notification channel
between `attune models promote` and the servers, and a few seconds of delay is fine for a
model change. A version that fails to load is logged and counted, the current model
keeps serving, and the same version is not retried until the registry points elsewhere. An
experiment is served only while it runs and its control is the version served (a server
still swapping to a new current version serves none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from attune.engine.engine import Engine, load_model
from attune.learning.experiments import current_experiment
from attune.learning.registry import ModelRegistry
from attune.log import get_logger
from attune.schemas.experiments import Experiment

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
        self._failed_experiment: str | None = None

    async def check(self) -> bool:
        """One poll of the version and of the experiment; True when the engine swapped to
        another version."""
        swapped = await self.check_version()
        await self.check_experiment()
        return swapped

    async def check_experiment(self) -> bool:
        """Start or stop serving the registry's experiment; True when the engine changed."""
        try:
            latest = await run_in_threadpool(current_experiment, self.registry)
        except Exception as err:  # unreadable now: keep what is served, poll again later
            _log.error("experiment unreadable; keeping the served one", error=str(err))
            return False
        engine = self.engine
        wanted = _servable(latest, engine.model.version)
        if wanted == engine.experiment or (wanted and wanted.id == self._failed_experiment):
            return False
        if wanted is None:
            await run_in_threadpool(engine.stop_experiment)
            _log.info("experiment no longer served")
            return True
        try:
            challenger = await run_in_threadpool(
                lambda: load_model(
                    self.registry.path(wanted.challenger), wanted.challenger, engine.config.device
                )
            )
            await run_in_threadpool(engine.start_experiment, wanted, challenger)
        except Exception as err:  # a challenger that does not load leaves the lists alone
            self._failed_experiment = wanted.id
            _log.error("experiment refused", experiment=wanted.id, error=str(err))
            if self.on_failure is not None:
                self.on_failure(wanted.challenger, str(err))
            return False
        _log.info("experiment served", experiment=wanted.id, challenger=wanted.challenger)
        return True

    async def check_version(self) -> bool:
        """One poll of the current version; True when the engine swapped to another one."""
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
        await self.check_experiment()  # one running when the server starts
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()


def _servable(experiment: Experiment | None, serving: int) -> Experiment | None:
    """`experiment` when it runs and its control is the version served, else None."""
    if experiment is None or not experiment.running or experiment.control != serving:
        return None
    return experiment
