"""The ingest path: validate, log durably, fold into state, count popularity, observe feedback,
then refresh V_u, at once for a few users or through the backlog worker for many.

Catalogue and user attribute updates come in here too: they go to the store and to the
engine's in-memory view of it together.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from attune.data.events import Interaction, ItemUpdate, UserUpdate, attribute_tokens
from attune.engine.context import EngineContext
from attune.engine.ingest import IngestResult, validate_events
from attune.engine.refresh import UserVectors
from attune.engine.restore import StatePersistence
from attune.ports import LoggedEvent

BACKLOG_CHUNK = 64
"""Users per background refresh step (a few milliseconds of the lock each)."""


class PopularityCounter:
    """Adds each positive event, by its type's weight, to the items' decayed popularity."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        names = ctx.event_types.names
        self._positive = np.array([ctx.event_types.is_positive(n) for n in names])
        self._weights = np.array([ctx.event_types.types[n].weight for n in names])

    def count(self, events: Sequence[LoggedEvent]) -> None:
        """Count the positive events among `events` in one batch (one round trip where the
        counts are shared)."""
        types = np.fromiter((e.event_type for e in events), np.int64, len(events))
        positive = self._positive[types] if len(types) else np.zeros(0, dtype=bool)
        if not positive.any():
            return
        kept = [e for e, p in zip(events, positive, strict=True) if p]
        self.ctx.items.popularity.add_many(
            np.fromiter((e.item for e in kept), np.int64, len(kept)),
            np.fromiter((e.timestamp for e in kept), np.float64, len(kept)),
            self._weights[types[positive]],
        )


class Intake:
    """Events, item updates and user updates into the engine."""

    def __init__(
        self,
        ctx: EngineContext,
        vectors: UserVectors,
        popularity: PopularityCounter,
        persistence: StatePersistence,
    ) -> None:
        self.ctx = ctx
        self.vectors = vectors
        self.popularity = popularity
        self.persistence = persistence
        self.backlog = threading.Condition(ctx.lock)
        """Signals the backlog worker (new users pending) and `wait_backlog` (none left)."""
        self.worker: threading.Thread | None = None

    def ingest(
        self,
        events: Sequence[Interaction | Mapping[str, Any]],
        user_ids: Callable[[str], str] | None = None,
    ) -> IngestResult:
        """Validate, log durably, update state and V_u of every user touched, in that order.

        Bad events are rejected one by one (naming the field); the rest are accepted.
        `user_ids` maps each valid event's user id to the id stored (keyed pseudonyms): after
        validation, so an id the API refuses is never made acceptable by the mapping.
        """
        ctx = self.ctx
        known = None
        if ctx.config.unknown_items == "reject":
            known = ctx.store.items.__contains__
        valid, rejected = validate_events(
            events,
            ctx.event_types,
            max_future_seconds=ctx.config.max_future_seconds,
            known_item=known,
        )
        if not valid:
            return IngestResult(0, rejected, 0)
        if user_ids is not None:
            valid = [(p, e.model_copy(update={"user_id": user_ids(e.user_id)})) for p, e in valid]
        logged = self._log([e for _, e in valid])
        duplicates = len(valid) - len(logged)
        if not logged:
            return IngestResult(0, rejected, 0, duplicates)
        users = list(dict.fromkeys(e.user for e in logged))
        if len(users) <= ctx.config.sync_refresh_users:
            self.vectors.batcher.run(users)
        else:
            self.defer_refresh()
        self.persistence.snapshot_if_due()
        return IngestResult(len(logged), rejected, logged[-1].seq, duplicates)

    def _log(self, events: list[Interaction]) -> list[LoggedEvent]:
        """Append to the log and fold into state, popularity and feedback (V_u left pending).
        Events the log already holds (by event id) come back from the log left out: they are
        not applied again."""
        ctx = self.ctx
        if not ctx.store.single_process:
            # A shared store's append is atomic in the store, as it is for another server's
            # writes: its round trips need not hold the engine's lock (the other requests of
            # this process go on meanwhile).
            with ctx.gate.append():
                logged = ctx.store.events.append_events(events, ctx.event_types)
            with ctx.lock:
                if logged and max(e.item for e in logged) >= ctx.items.size:
                    ctx.items.reindex(ctx.items.grow())
                self._apply(logged)
            return logged
        with ctx.lock:
            n_items = ctx.n_items()
            logged = ctx.store.events.append_events(events, ctx.event_types)
            if ctx.n_items() > n_items:
                ctx.items.reindex(ctx.items.grow())
            self._apply(logged)
        return logged

    def _apply(self, logged: list[LoggedEvent]) -> None:
        """Fold logged events into popularity, the users' states and feedback (under the
        lock)."""
        if not logged:
            return
        self.popularity.count(logged)
        for e in logged:
            self.vectors.apply(e)
        self.ctx.feedback.observe(logged)
        self.persistence.applied(logged[-1].seq, len(logged))

    # -- backlog -------------------------------------------------------------------------------

    def defer_refresh(self) -> None:
        """Leave the V_u of the pending users to the backlog worker; past
        `max_refresh_backlog` users, refresh the oldest here first."""
        pending = self.vectors.waiting
        with self.ctx.lock:
            while len(pending) > self.ctx.config.max_refresh_backlog:
                self.vectors.refresh(list(itertools.islice(pending, BACKLOG_CHUNK)))
            if self.worker is None or not self.worker.is_alive():
                self.worker = threading.Thread(
                    target=self._work_backlog, name="attune-backlog", daemon=True
                )
                self.worker.start()
            self.backlog.notify_all()

    def _work_backlog(self) -> None:
        """Refresh the pending users, oldest first, in small chunks: each holds the lock for a
        few milliseconds, so requests interleave with the work."""
        pending = self.vectors.waiting
        while not self.ctx.closed:
            with self.ctx.lock:
                if not pending:
                    self.backlog.notify_all()  # wakes wait_backlog
                    self.backlog.wait(timeout=1.0)
                    continue
                self.vectors.refresh(list(itertools.islice(pending, BACKLOG_CHUNK)))
            time.sleep(0)  # let waiting requests take the lock between chunks

    def wait_backlog(self, timeout: float | None = None) -> bool:
        """Block until every pending V_u is refreshed; False on timeout."""
        pending = self.vectors.waiting
        with self.ctx.lock:
            return self.backlog.wait_for(lambda: not pending, timeout)

    def stop_backlog(self) -> None:
        """Wake the backlog worker and wait for it to end (the context is closed)."""
        if self.worker is not None:
            with self.ctx.lock:
                self.backlog.notify_all()
            self.worker.join()

    # -- catalogue and user attributes ---------------------------------------------------------

    def upsert_items(self, updates: Sequence[ItemUpdate]) -> None:
        with self.ctx.lock:
            self.ctx.store.catalogue.upsert_items(list(updates))
            self.ctx.items.upsert(updates)

    def upsert_users(self, updates: Sequence[UserUpdate]) -> None:
        ctx = self.ctx
        with ctx.lock:
            ctx.store.profiles.upsert_users(list(updates))
            for u in updates:
                ctx.user_tokens[ctx.store.users.index(u.user_id)] = attribute_tokens(u.attributes)
