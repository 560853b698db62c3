"""Turn attention weights and vector similarities into reasons a person can read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from attune.data.events import EventTypes
from attune.engine.interest import Explanation
from attune.engine.items import ItemSide
from attune.engine.state import UserState
from attune.ranking import RankedItem, ReasonKind
from attune.retrieval import ItemIndex

_VERBS = {
    "view": "viewed",
    "click": "clicked",
    "add_to_cart": "added to your cart",
    "purchase": "bought",
    "like": "liked",
    "rating": "rated",
}


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is slower (object.__setattr__)
class Influence:
    """One past event and how much it drove a recommendation."""

    item_id: str
    event_type: str
    timestamp: float
    weight: float
    """Share of the recommendation's similarity attributed to this event (sums to 1)."""


@dataclass(slots=True)
class Reason:
    """Why one item is in a list (or why it would score as it does)."""

    kind: str
    """similar, popular, exploration, attributes."""
    text: str
    influences: list[Influence] = field(default_factory=list)
    matched_attributes: list[str] = field(default_factory=list)


def ago(seconds: float, timestamp: float | None = None) -> str:
    """`2 minutes ago`, `3 days ago`; past a month, the date itself (`on 1997-11-02`)."""
    seconds = max(0.0, seconds)
    if seconds > 30 * 86400 and timestamp is not None:
        return "on " + datetime.fromtimestamp(timestamp, UTC).date().isoformat()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def influences(attention: np.ndarray, history_vecs: np.ndarray, item_vec: np.ndarray) -> np.ndarray:
    """Share of each history event in one item's reason, summing to 1: the cosine of the
    event's item with the candidate, negatives clipped (the past items closest to it are what
    it has in common with the user's interest); the attention of V_u when no past item points
    at the candidate at all.

    The attention of V_u's last position alone is no attribution: it falls on hidden states
    that already mix the window, and often gathers on one event (the oldest, say), which then
    was named for every item of a list.
    """
    h = history_vecs / np.maximum(np.linalg.norm(history_vecs, axis=1, keepdims=True), 1e-12)
    v = item_vec / max(float(np.linalg.norm(item_vec)), 1e-12)
    raw = np.clip(h @ v, 0.0, None)
    total = float(raw.sum())
    return raw / total if total > 0 else attention / max(float(attention.sum()), 1e-12)


def latest_per_item(expl: Explanation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items, positions, attention) of the window with one event per distinct item: its
    latest, newest first (so that ties go to the more recent item); the attention of an item
    is that of all its events."""
    items = expl.items.astype(np.int64)
    distinct, inverse = np.unique(items, return_inverse=True)
    latest = np.full(len(distinct), -1, np.int64)
    np.maximum.at(latest, inverse, np.arange(len(items)))
    attention = np.bincount(inverse, weights=expl.weights, minlength=len(distinct))
    newest_first = np.argsort(-latest)
    return distinct[newest_first], expl.positions[latest[newest_first]], attention[newest_first]


def similar_text(top: Influence, title: str, *, has_time: bool, now: float | None = None) -> str:
    verb = _VERBS.get(top.event_type, top.event_type)
    when = f" {ago((now or time.time()) - top.timestamp, top.timestamp)}" if has_time else ""
    return f"because you {verb} {title}{when}"


class Reasoner:
    """Builds the reason of each listed item from the model's attention and the item side."""

    def __init__(self, items: ItemSide, event_types: EventTypes, has_timestamps: bool) -> None:
        self.items = items
        self.names = event_types.names
        self.has_timestamps = has_timestamps

    def for_list(
        self,
        ranked: list[RankedItem],
        state: UserState,
        expl: Explanation | None,
        source: str,
        user_tokens: list[str],
        now: float,
        index: ItemIndex | None = None,
    ) -> list[Reason]:
        """Reasons of a whole list; the similarity work is one matrix product for all items,
        over `index` (default: the served model's)."""
        similar = [r.item for r in ranked if r.reason is ReasonKind.SIMILAR]
        found = (
            dict(
                zip(
                    similar,
                    self.similar_many(np.asarray(similar, np.int64), state, expl, now, index),
                    strict=True,
                )
            )
            if similar
            else {}
        )
        out = []
        for r in ranked:
            if r.reason is ReasonKind.EXPLORATION:
                out.append(
                    Reason("exploration", "new or rarely shown: exploring whether you like it")
                )
            elif r.reason is ReasonKind.POPULAR:
                out.append(Reason("popular", "popular right now"))
            elif source == "attributes":
                out.append(
                    Reason(
                        "attributes",
                        f"liked by people like you ({', '.join(user_tokens)})",
                        matched_attributes=list(user_tokens),
                    )
                )
            else:
                out.append(found[r.item])
        return out

    def similar_many(
        self,
        items: np.ndarray,
        state: UserState,
        expl: Explanation | None,
        now: float,
        index: ItemIndex | None = None,
    ) -> list[Reason]:
        """For each item, its own reason: the past events whose items are closest to it
        (`influences`; the 3 strongest first, one event per past item)."""
        if expl is None or len(expl.items) == 0:
            return [Reason("similar", "similar to your interests") for _ in items]
        history, positions, attention = latest_per_item(expl)
        shares = self._shares(items, history, attention, index or self.items.index)
        # One argsort for all rows, then plain Python over lists: per-item numpy indexing
        # (scalars out of arrays, a sort per row) took most of a list's time.
        orders = np.argsort(-shares, axis=1, kind="stable")[:, :3]
        top_shares = np.take_along_axis(shares, orders, axis=1).tolist()
        past = history.tolist()
        types = state.types[positions].tolist()
        times = state.times[positions].tolist()
        external = self.items.store.items.external
        out = []
        for order, weights, item in zip(orders.tolist(), top_shares, items.tolist(), strict=True):
            infl = [
                Influence(external(past[j]), self.names[types[j]], times[j], w)
                for j, w in zip(order, weights, strict=True)
            ]
            top = past[order[0]]
            matched = sorted(set(self.items.tokens[item]) & set(self.items.tokens[top]))
            text = similar_text(
                infl[0], self.items.title(top), has_time=self.has_timestamps, now=now
            )
            out.append(Reason("similar", text, infl, matched))
        return out

    def _shares(
        self, items: np.ndarray, history: np.ndarray, attention: np.ndarray, index: ItemIndex
    ) -> np.ndarray:
        """`influences` of every (item, past item) pair, as one matrix product: [items,
        history]. Past items without a vector in the index count as pointing nowhere."""
        sims = np.zeros((len(items), len(history)), np.float32)
        indexed = index.contains(history)
        if bool(indexed.any()):
            # Index vectors are unit: the product is the cosine.
            products = index.vectors(items) @ index.vectors(history[indexed]).T
            sims[:, indexed] = np.clip(products, 0.0, None)
        total = sims.sum(axis=1, keepdims=True)
        base = attention / max(float(attention.sum()), 1e-12)
        return np.where(total > 0, sims / np.maximum(total, 1e-12), base[None, :])
