"""The fine-tuning check: rank the newest logged events the way the engine would have served
them, with any model version.

Each held-out event becomes a case: the user's state replayed from the log up to (not
including) that event, and the event's item as the target. Scores are cosines over every item
in the store (full ranking), the user's seen and rejected items excluded except the target;
a user whose window holds no item the model knows gets the popularity ranking, as the
engine's fallback would give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from attune.data.dataset import AttributeTable
from attune.data.events import EventTypes
from attune.engine.interest import InterestModel
from attune.engine.state import UserState, fold_event
from attune.ports import EventLog, LoggedEvent
from attune.training.validation import ranking_metrics

MAX_SEEN = 1000


@dataclass(frozen=True)
class EventArrays:
    """The event log as columns, in log order."""

    seq: np.ndarray
    user: np.ndarray
    item: np.ndarray
    event_type: np.ndarray
    time: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.seq)

    @staticmethod
    def read(log: EventLog) -> EventArrays:
        cols = log.event_columns()
        return EventArrays(
            cols[:, 0].astype(np.int64),
            cols[:, 1].astype(np.int64),
            cols[:, 2].astype(np.int64),
            cols[:, 3].astype(np.int64),
            cols[:, 4],
            cols[:, 5],
        )

    def select(self, rows: np.ndarray) -> EventArrays:
        """The events at `rows`, in that order."""
        return EventArrays(
            self.seq[rows],
            self.user[rows],
            self.item[rows],
            self.event_type[rows],
            self.time[rows],
            self.value[rows],
        )

    def head(self, n: int) -> EventArrays:
        return EventArrays(
            self.seq[:n],
            self.user[:n],
            self.item[:n],
            self.event_type[:n],
            self.time[:n],
            self.value[:n],
        )

    def event(self, i: int) -> LoggedEvent:
        return LoggedEvent(
            int(self.seq[i]),
            int(self.user[i]),
            int(self.item[i]),
            int(self.event_type[i]),
            float(self.time[i]),
            float(self.value[i]),
        )


@dataclass(frozen=True)
class HeldOutCase:
    state: UserState
    """The user's state just before the event."""
    target: int
    """Store index of the event's item."""
    user: int = -1
    """Store index of the user."""


def heldout_cases(
    events: EventArrays,
    boundary: int,
    event_types: EventTypes,
    max_len: int,
    window: Literal["positive", "all"] = "positive",
) -> list[HeldOutCase]:
    """One case per event from `boundary` on, each with the state replayed before it."""
    wanted = np.unique(events.user[boundary:])
    states: dict[int, UserState] = {}
    cases = []
    for i in np.flatnonzero(np.isin(events.user, wanted)).tolist():
        state = states.setdefault(int(events.user[i]), UserState())
        if i >= boundary:
            cases.append(
                HeldOutCase(
                    UserState.unpack(state.pack()), int(events.item[i]), int(events.user[i])
                )
            )
        fold_event(
            state, events.event(i), event_types, max_len=max_len, max_seen=MAX_SEEN, window=window
        )
    return cases


def evaluate_cases(
    model: InterestModel,
    cases: list[HeldOutCase],
    *,
    events: EventArrays,
    boundary: int,
    n_items: int,
    item_attributes: AttributeTable,
    k: int = 10,
    batch: int = 512,
    user_tokens: dict[int, list[str]] | None = None,
) -> dict[str, float]:
    """HR@k and NDCG@k of `model` over `cases` (the model must be bound to the store's items);
    `user_tokens`: attribute tokens per user, for a model that reads them."""
    items = model.item_vectors(np.arange(n_items), item_attributes)
    items /= np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
    popularity = np.bincount(events.item[:boundary], minlength=n_items).astype(np.float32)
    ranks = np.empty(len(cases), np.int64)
    for lo in range(0, len(cases), batch):
        chunk = cases[lo : lo + batch]
        tokens = None
        if user_tokens is not None:
            tokens = [model.user_tokens(user_tokens.get(c.user, [])) for c in chunk]
        results = model.user_vectors([c.state for c in chunk], tokens)
        scores = np.empty((len(chunk), n_items), np.float32)
        for row, (case, result) in enumerate(zip(chunk, results, strict=True)):
            if result is None:
                scores[row] = popularity
            else:
                vec = result[0] / max(float(np.linalg.norm(result[0])), 1e-12)
                scores[row] = items @ vec
            # A diverged model may score NaN: such scores rank below everything.
            scores[row] = np.nan_to_num(scores[row], nan=-np.inf)
            target_score = scores[row, case.target]
            scores[row, case.state.seen_items] = -np.inf
            scores[row, case.state.negative] = -np.inf
            scores[row, case.target] = target_score
            ranks[lo + row] = int((scores[row] >= target_score).sum())
    return ranking_metrics(ranks, k, prefix="")
