"""What the engine's parts share: one store, one lock, the served model and the per-user and
per-item data derived from the store, with the id lookups every part goes through.

Each part of the engine (intake, refresh, recommend, swap, restore, erasure) holds the same
`EngineContext`; a part never reaches another part's data except through the context or the
part itself. Reads of the store's id vocabularies go through the lookups here, so that the
store stays in as few places as possible.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from attune.data.events import EventTypes
from attune.engine.coldstart import AttributeProfiles
from attune.engine.config import EngineConfig
from attune.engine.experiment import ChallengerArm
from attune.engine.explain import Reasoner
from attune.engine.gate import AppendGate
from attune.engine.interest import InterestModel
from attune.engine.items import ItemSide
from attune.feedback import FeedbackLog
from attune.ports import Storage, UserStateStore
from attune.retrieval import serial_blas


class UnknownUserError(KeyError):
    """The user id is not known to the engine."""


class UnknownItemError(KeyError):
    """The item id is not known to the engine."""


@dataclass(eq=False)
class EngineContext:
    """The state every part of one engine reads and writes, under `lock`."""

    config: EngineConfig
    store: Storage
    states: UserStateStore
    model: InterestModel
    """The served model; replaced by a swap (under `lock`)."""
    event_types: EventTypes
    feedback: FeedbackLog
    """Served lists as impressions, joined to the events that name them."""
    items: ItemSide
    user_tokens: dict[int, list[str]]
    """Attribute tokens per user index (for the model's user tokens and cold start)."""
    profiles: AttributeProfiles
    reasons: Reasoner
    has_timestamps: bool
    lock: threading.RLock = field(default_factory=threading.RLock)
    gate: AppendGate = field(init=False)
    """Keeps an erasure apart from the store appends made without `lock` (shared stores)."""
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    closed: bool = False
    """Set by `Engine.close`: background work stops at its next step."""
    challenger: ChallengerArm | None = None
    """The running online A/B test's challenger (its item index in `items`); None: no test."""

    def __post_init__(self) -> None:
        self.gate = AppendGate(self.lock)

    # -- id lookups ----------------------------------------------------------------------------

    def user_index(self, user_id: str) -> int:
        """The user's index, or -1 when the user is unknown."""
        return self.store.users.get(user_id)

    def known_user(self, user_id: str) -> int:
        """The user's index; UnknownUserError when there is none."""
        idx = self.store.users.get(user_id)
        if idx < 0:
            raise UnknownUserError(user_id)
        return idx

    def known_item(self, item_id: str) -> int:
        """The item's index; UnknownItemError when there is none."""
        idx = self.store.items.get(item_id)
        if idx < 0:
            raise UnknownItemError(item_id)
        return idx

    def item_ids(self, items: Iterable[int]) -> list[str]:
        """External ids of item indices, in order."""
        external = self.store.items.external
        return [external(int(i)) for i in items]

    def n_items(self) -> int:
        """Items in the store's vocabulary."""
        return len(self.store.items)


def build_context(
    store: Storage,
    model: InterestModel,
    config: EngineConfig,
) -> EngineContext:
    """A context over `store` serving `model`: the item side, user attributes, profiles and
    reasons read from the store (its events are left to the restore)."""
    apply_threads(config)
    event_types = store.event_types()
    feedback = FeedbackLog(store.impressions, event_types, config.feedback)
    data = store.to_dataset(events=False)
    items = ItemSide(store, data, model, config, event_types)
    return EngineContext(
        config=config,
        store=store,
        states=store.states,
        model=model,
        event_types=event_types,
        feedback=feedback,
        items=items,
        user_tokens=data.user_attributes.token_rows(),
        profiles=AttributeProfiles(model.dim),
        reasons=Reasoner(items, event_types, data.has_timestamps),
        has_timestamps=data.has_timestamps,
        rng=np.random.default_rng(config.seed),
    )


def apply_threads(config: EngineConfig) -> None:
    """Limit torch (and, with one thread, numpy's BLAS) to `config.threads`."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
        if config.threads == 1:
            serial_blas()  # numpy's BLAS too: retrieval's matrix-vector product
