"""The real-time engine: ingest an event, update the user's interest at once, recommend.

Everything here is in-process and backend-neutral: events go to an `EventLog`, user state to a
`UserStateStore`, vectors through an `ItemIndex`, lists through the pure `ranking` package.
The event log is the source of truth; user state is derived from it (snapshot + tail).

`Engine` is a facade: it wires the parts over one shared `EngineContext` and hands each call
to the part that does that job (intake, refresh, recommend, swap, restore, erasure).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from attune.data.events import EventTypes, Interaction, ItemUpdate, UserUpdate
from attune.data.pseudonyms import Pseudonyms
from attune.engine.batching import MicroBatcher
from attune.engine.coldstart import AttributeProfiles
from attune.engine.config import EngineConfig
from attune.engine.context import UnknownItemError, UnknownUserError, build_context
from attune.engine.erasure import UserErasure
from attune.engine.experiment import ChallengerArm, assign_arm
from attune.engine.explain import Reason, Reasoner
from attune.engine.follow import StoreFollower, StorePositions
from attune.engine.ingest import IngestResult
from attune.engine.intake import Intake, PopularityCounter
from attune.engine.interest import Explanation, InterestModel
from attune.engine.items import ItemSide
from attune.engine.recommend import (
    Recommendations,
    Recommended,
    Recommender,
    seen_pairs,
    seen_pairs_reference,
)
from attune.engine.refresh import UserVectors
from attune.engine.restore import StatePersistence
from attune.engine.state import UserState
from attune.engine.swap import ModelSwap, load_model
from attune.feedback import FeedbackLog
from attune.model.incremental import KVCache
from attune.ports import Storage, UserStateStore
from attune.ranking import FilterSpec
from attune.schemas.experiments import Experiment
from attune.stores import open_storage, resolve_model


class Engine:
    """Ingest, update and recommend over one store and one model version."""

    def __init__(
        self,
        store: Storage,
        model: InterestModel,
        config: EngineConfig | None = None,
        pseudonyms: Pseudonyms | None = None,
    ) -> None:
        self._pseudonyms = pseudonyms
        positions = StorePositions.now(store)  # before the catalogue is read: nothing missed
        self._ctx = ctx = build_context(store, model, config or EngineConfig())
        self._follower = StoreFollower(ctx, positions)
        self._vectors = UserVectors(ctx)
        self._persistence = StatePersistence(ctx, self._vectors)
        popularity = PopularityCounter(ctx)
        self._intake = Intake(ctx, self._vectors, popularity, self._persistence)
        self._recommender = Recommender(ctx, self._vectors)
        self._swap = ModelSwap(ctx, self._vectors)
        self._erasure = UserErasure(ctx, self._vectors, self._persistence)
        self._persistence.restore(popularity.count)
        store.start_maintenance()

    @classmethod
    def open(
        cls,
        db: str | Path,
        model_dir: str | Path,
        config: EngineConfig | None = None,
        version: int = 1,
        pseudonyms: Pseudonyms | None = None,
    ) -> Engine:
        """An engine over the storage at `db` (a URL or a database path) serving `model_dir`:
        a checkpoint directory (served as `version`) or a model registry (its current
        version). `pseudonyms`: the key chain user ids are stored under (None: raw ids)."""
        cfg = config or EngineConfig()
        checkpoint, current = resolve_model(model_dir)
        model = load_model(checkpoint, version if current is None else current, cfg.device)
        store = open_storage(db, durability=cfg.durability, erasure_rebuild_s=cfg.erasure_rebuild_s)
        return cls(store, model, cfg, pseudonyms)

    # -- what the engine serves with -----------------------------------------------------------

    @property
    def config(self) -> EngineConfig:
        return self._ctx.config

    @property
    def store(self) -> Storage:
        return self._ctx.store

    @property
    def pseudonymous(self) -> bool:
        """Whether user ids are stored as keyed pseudonyms (the raw ids callers give are
        mapped on the way in and never reach the store)."""
        return self._pseudonyms is not None

    def stored_user_id(self, user_id: str) -> str:
        """The id the store holds for the caller's `user_id`: its pseudonym under the key
        chain, or the id itself without one."""
        return user_id if self._pseudonyms is None else self._pseudonyms(user_id)

    @contextmanager
    def _as_given(self, user_id: str) -> Iterator[None]:
        """An unknown-user error names the id the caller gave, not its pseudonym."""
        try:
            yield
        except UnknownUserError:
            if self._pseudonyms is None:
                raise
            raise UnknownUserError(user_id) from None

    @property
    def states(self) -> UserStateStore:
        return self._ctx.states

    @property
    def model(self) -> InterestModel:
        """The served model (replaced by `swap_model`)."""
        return self._ctx.model

    @property
    def event_types(self) -> EventTypes:
        return self._ctx.event_types

    @property
    def feedback(self) -> FeedbackLog:
        """Served lists as impressions, joined to the events that name them."""
        return self._ctx.feedback

    @property
    def items(self) -> ItemSide:
        return self._ctx.items

    @property
    def profiles(self) -> AttributeProfiles:
        return self._ctx.profiles

    @property
    def reasons(self) -> Reasoner:
        return self._ctx.reasons

    @property
    def has_timestamps(self) -> bool:
        return self._ctx.has_timestamps

    # -- model versions ------------------------------------------------------------------------

    def swap_model(self, model: InterestModel, *, background: bool = True) -> None:
        """Serve `model` from now on, without dropping a request (see `ModelSwap`)."""
        self._swap.swap_model(model, background=background)

    def wait_refreshed(self, timeout: float | None = None) -> None:
        """Block until the background refresh after the last swap has finished."""
        self._swap.wait_refreshed(timeout)

    @property
    def experiment(self) -> Experiment | None:
        """The online A/B test being served (None: every user gets the served model)."""
        challenger = self._ctx.challenger
        return None if challenger is None else challenger.experiment

    def start_experiment(self, experiment: Experiment, challenger: InterestModel) -> None:
        """Serve `challenger` to the experiment's challenger arm from now on, in place of any
        test running (`attune.engine.experiment`). Its item index is built while lists keep
        being served; the switch is a few assignments under the lock."""
        ctx = self._ctx
        if experiment.control != ctx.model.version:
            raise ValueError(
                f"the experiment's control is version {experiment.control}, "
                f"the engine serves {ctx.model.version}"
            )
        if challenger.version != experiment.challenger:
            raise ValueError(
                f"the challenger model is version {challenger.version}, "
                f"the experiment's is {experiment.challenger}"
            )
        with ctx.lock:
            n_indexed = ctx.n_items()
        index = ctx.items.prepare(challenger)
        with ctx.lock:
            ctx.items.install_challenger(challenger, index, n_indexed)
            ctx.challenger = ChallengerArm(experiment, challenger, ctx.config.explain_cache_users)

    def stop_experiment(self) -> None:
        """Serve every user the served model again."""
        ctx = self._ctx
        with ctx.lock:
            ctx.items.install_challenger(None, None, 0)
            ctx.challenger = None

    # -- writes --------------------------------------------------------------------------------

    def ingest(self, events: Sequence[Interaction | Mapping[str, Any]]) -> IngestResult:
        """Validate, log durably, update state and V_u of every user touched, in that order.

        Bad events are rejected one by one (naming the field); the rest are accepted. An event
        whose `event_id` its user already has in the log is acknowledged as a duplicate and not
        applied again (clients retry safely).
        """
        return self._intake.ingest(events, self._pseudonyms)

    @property
    def refresh_backlog(self) -> int:
        """Users whose state changed and whose V_u is not recomputed yet."""
        return len(self._vectors.waiting)

    def wait_backlog(self, timeout: float | None = None) -> bool:
        """Block until every pending V_u is refreshed; False on timeout."""
        return self._intake.wait_backlog(timeout)

    def upsert_items(self, updates: Sequence[ItemUpdate]) -> None:
        self._intake.upsert_items(updates)

    def upsert_users(self, updates: Sequence[UserUpdate]) -> None:
        if self._pseudonyms is not None:
            updates = [
                u.model_copy(update={"user_id": self._pseudonyms(u.user_id)}) for u in updates
            ]
        self._intake.upsert_users(updates)

    def follow_store(self) -> int:
        """Apply the catalogue and user-attribute changes other servers stored on a shared
        store since the last call (a server calls it every `store_poll_s`); how many items
        and users changed."""
        return self._follower.follow()

    def forget_user(self, user_id: str) -> dict[str, int]:
        """Erase a user's events, state and attributes; returns what was removed."""
        with self._as_given(user_id):
            return self._erasure.forget_user(self.stored_user_id(user_id))

    def snapshot(self) -> None:
        self._persistence.snapshot()

    def close(self) -> None:
        self._ctx.closed = True
        self._swap.wait_refreshed()
        self._intake.stop_backlog()
        self._persistence.close()

    # -- reads ---------------------------------------------------------------------------------

    def user_vector(self, user_id: str) -> np.ndarray | None:
        idx = self._ctx.user_index(self.stored_user_id(user_id))
        return None if idx < 0 else self._vectors.user_vector(idx)

    def history(self, user_id: str) -> list[tuple[str, str, float]]:
        """The user's recent positive window: (item id, event type, time), oldest first."""
        with self._as_given(user_id):
            return self._recommender.history(self.stored_user_id(user_id))

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        filters: FilterSpec | None = None,
        exclude: Sequence[str] = (),
        diversity: float | None = None,
        explore: float | None = None,
        now: float | None = None,
    ) -> Recommendations:
        """Top-k for a user, filtered, diversified and explored, each item with its reason.

        Unknown users get the cold-start chain (attribute profile, then popularity).
        """
        recs = self._recommender.recommend(
            self.stored_user_id(user_id),
            k,
            filters=filters,
            exclude=exclude,
            diversity=diversity,
            explore=explore,
            now=now,
        )
        # The impression was logged under the pseudonym; the caller gets its own id back.
        return recs if self._pseudonyms is None else dataclasses.replace(recs, user_id=user_id)

    def explain(self, user_id: str, item_id: str, now: float | None = None) -> Reason:
        """Why `item_id` scores as it does for `user_id`: the history events behind it."""
        with self._as_given(user_id):
            return self._recommender.explain(self.stored_user_id(user_id), item_id, now)

    def similar_items(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """Items whose vectors are closest to `item_id`'s (the item itself excluded)."""
        return self._recommender.similar_items(item_id, k)

    # -- internals that tests and benchmarks look at -------------------------------------------

    @property
    def _closed(self) -> bool:
        return self._ctx.closed

    @_closed.setter
    def _closed(self, value: bool) -> None:
        self._ctx.closed = value

    @property
    def _backlog_worker(self) -> threading.Thread | None:
        return self._intake.worker

    @property
    def _batcher(self) -> MicroBatcher[int, np.ndarray | None]:
        return self._vectors.batcher

    @property
    def _kv(self) -> OrderedDict[int, KVCache]:
        return self._vectors.kv

    def _defer_refresh(self) -> None:
        self._intake.defer_refresh()

    def _state(self, user: int) -> UserState:
        return self._vectors.state(user)

    def _explanation(self, user: int, state: UserState) -> Explanation | None:
        return self._vectors.explanation(user, state)


__all__ = [
    "Engine",
    "Recommendations",
    "Recommended",
    "UnknownItemError",
    "UnknownUserError",
    "assign_arm",
    "load_model",
    "seen_pairs",
    "seen_pairs_reference",
]
