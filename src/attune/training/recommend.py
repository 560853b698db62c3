"""A checkpoint scored offline exactly as the engine serves it (`attune.model.served`): the
top-k `attune recommend` prints and the scorer `attune evaluate` ranks with."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attune.data.dataset import Dataset, Interactions
from attune.data.events import DEFAULT_WINDOW, EventTypes, WindowRule, enters_window
from attune.model.served import ServedModel, ServedScorer, user_token_ids
from attune.training.checkpoint import LoadedModel
from attune.training.data import UserSequences


def _members(loaded: LoadedModel | Sequence[LoadedModel]) -> list[LoadedModel]:
    return [loaded] if isinstance(loaded, LoadedModel) else list(loaded)


def served_model(loaded: LoadedModel | Sequence[LoadedModel]) -> ServedModel:
    """The checkpoint's model, or its ensemble's members, joined as the engine serves them."""
    return ServedModel([m.encoder for m in _members(loaded)])


def window_events(
    interactions: Interactions, event_types: EventTypes, window: WindowRule = DEFAULT_WINDOW
) -> np.ndarray:
    """Per interaction, whether it enters the user's window under the engine's `window` rule
    (`enters_window`; the rest only count as seen)."""
    values = np.where(np.isnan(interactions.values), np.inf, interactions.values)
    pairs, inverse = np.unique(
        np.stack([interactions.event_types.astype(np.float64), values]), axis=1, return_inverse=True
    )
    names = event_types.names
    keep = []
    for code, value in pairs.T.tolist():
        name = names[int(code)]
        rated = None if math.isinf(value) else value
        keep.append(enters_window(name, event_types.is_positive(name, rated), window))
    return np.asarray(keep, bool)[inverse.reshape(-1)]


def served_scorer(
    loaded: LoadedModel | Sequence[LoadedModel],
    dataset: Dataset,
    window: WindowRule = DEFAULT_WINDOW,
) -> ServedScorer:
    """An evaluation `Scorer` of the checkpoint over `dataset`'s users: each history with its
    event types and the user's attribute tokens, the window the engine's `window` rule keeps
    of it, as the engine reads them (every history item still counts as seen).

    `dataset` must index items as the checkpoint does (the data it was trained on, or more).
    """
    members = _members(loaded)
    first = members[0]
    if dataset.items.ids[: first.encoder_config.n_items] != first.items.ids[: dataset.n_items]:
        raise ValueError("the dataset indexes items differently from the model")
    events = UserSequences.from_interactions(dataset.interactions, dataset.n_users)
    tokens = None
    if first.encoder_config.n_user_tokens:
        vocabulary, table = first.user_attributes.tokens, dataset.user_attributes
        tokens = [user_token_ids(vocabulary, table.tokens_of(u)) for u in range(dataset.n_users)]
    users = dataset.interactions.users
    order = np.argsort(users, kind="stable")  # as `UserSequences` groups the events
    bounds = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=dataset.n_users))])
    kept = window_events(dataset.interactions, dataset.event_types, window)[order]
    in_window = [kept[bounds[u] : bounds[u + 1]] for u in range(dataset.n_users)]
    return ServedScorer(served_model(members), events.items, events.event_types, tokens, in_window)


@dataclass(frozen=True)
class UserHistory:
    """A user's events as the engine reads them, in a model's internal item indices (items it
    never saw left out)."""

    items: np.ndarray
    """The window: items of the events the window rule keeps, time order."""
    event_types: np.ndarray
    """Event-type code of each window event."""
    tokens: list[str]
    """The user's attribute tokens."""
    seen: np.ndarray
    """Every item the user had an event on (what the seen-item filter removes)."""


def user_history(
    dataset: Dataset, user: int, loaded: LoadedModel, window: WindowRule = DEFAULT_WINDOW
) -> UserHistory:
    """The events of `dataset`'s user (internal index), read as the engine reads them."""
    rows = np.flatnonzero(dataset.interactions.users == user)  # time order
    events = dataset.interactions.take(rows)
    external = dataset.items.decode(events.items)
    model_items = np.fromiter((loaded.items.get(i) for i in external), np.int64, len(rows))
    known = model_items >= 0
    kept = known & window_events(events, dataset.event_types, window)
    types = events.event_types.astype(np.int64)
    tokens = dataset.user_attributes.tokens_of(user)
    return UserHistory(model_items[kept], types[kept], tokens, np.unique(model_items[known]))


@torch.inference_mode()
def recommend_offline(
    loaded: LoadedModel | Sequence[LoadedModel],
    history_items: Sequence[int] | np.ndarray,
    k: int = 10,
    *,
    event_types: Sequence[int] | np.ndarray | None = None,
    user_tokens: Sequence[str] = (),
    seen: Sequence[int] | np.ndarray | None = None,
    exclude_seen: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best internal item indices for a history of internal item indices, with the
    scores the server gives them (cosine), best first.

    `event_types` are the history's event-type codes (default: all 0) and `user_tokens` the
    user's attribute tokens. The `seen` items (default: the history) are not recommended
    again unless `exclude_seen` is False. Fewer than k items come back only when the
    catalogue minus them is smaller than k. An ensemble's members are joined as the engine
    joins them.
    """
    if len(history_items) == 0:
        raise ValueError("history_items is empty: the model needs at least one event")
    if k < 1:
        raise ValueError("k must be positive")
    members = _members(loaded)
    n_items = members[0].encoder_config.n_items
    history = np.asarray(history_items, dtype=np.int64)
    if history.min() < 0 or history.max() >= n_items:
        raise ValueError(f"history item index out of range [0, {n_items})")
    types = np.zeros(len(history), np.int64) if event_types is None else np.asarray(event_types)
    if len(types) != len(history):
        raise ValueError("event_types must give one code per history item")
    tokens = user_token_ids(members[0].user_attributes.tokens, list(user_tokens))
    scores = served_model(members).scores([history + 1], [types], [tokens])[0].cpu()
    seen = np.unique(history if seen is None else np.asarray(seen, np.int64))
    if exclude_seen:
        scores[torch.from_numpy(seen)] = float("-inf")
    top = torch.topk(scores, min(k, n_items - (len(seen) if exclude_seen else 0)))
    return top.indices.numpy(), top.values.numpy()
