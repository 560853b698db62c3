"""Turn attention weights and vector similarities into reasons a person can read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from attune.data.events import EventTypes
from attune.engine.interest import InterestModel
from attune.engine.items import ItemSide
from attune.engine.state import UserState
from attune.ranking import RankedItem, ReasonKind

_VERBS = {
    "view": "viewed",
    "click": "clicked",
    "add_to_cart": "added to your cart",
    "purchase": "bought",
    "like": "liked",
    "rating": "rated",
}


@dataclass(frozen=True)
class Influence:
    """One past event and how much it drove a recommendation."""

    item_id: str
    event_type: str
    timestamp: float
    weight: float
    """Share of the recommendation's similarity attributed to this event (sums to 1)."""


@dataclass
class Reason:
    """Why one item is in a list (or why it would score as it does)."""

    kind: str
    """similar, popular, exploration, attributes."""
    text: str
    influences: list[Influence] = field(default_factory=list)
    matched_attributes: list[str] = field(default_factory=list)


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def influences(attention: np.ndarray, history_vecs: np.ndarray, item_vec: np.ndarray) -> np.ndarray:
    """Contribution of each history event to one item's score, normalised to sum to 1.

    The last position's attention says how much each past event shapes V_u; the cosine of the
    event's item with the candidate says whether that part of V_u points at the candidate.
    Their product (negatives clipped) is the event's share.
    """
    h = history_vecs / np.maximum(np.linalg.norm(history_vecs, axis=1, keepdims=True), 1e-12)
    v = item_vec / max(float(np.linalg.norm(item_vec)), 1e-12)
    raw = attention * np.clip(h @ v, 0.0, None)
    total = float(raw.sum())
    return raw / total if total > 0 else attention / max(float(attention.sum()), 1e-12)


def similar_text(top: Influence, title: str, *, has_time: bool, now: float | None = None) -> str:
    verb = _VERBS.get(top.event_type, top.event_type)
    when = f" {ago((now or time.time()) - top.timestamp)}" if has_time else ""
    return f"because you {verb} {title}{when}"


class Reasoner:
    """Builds the reason of each listed item from the model's attention and the item side."""

    def __init__(
        self, model: InterestModel, items: ItemSide, event_types: EventTypes, has_timestamps: bool
    ) -> None:
        self.model = model
        self.items = items
        self.names = event_types.names
        self.has_timestamps = has_timestamps

    def for_item(
        self, r: RankedItem, state: UserState, source: str, user_tokens: list[str], now: float
    ) -> Reason:
        if r.reason is ReasonKind.EXPLORATION:
            return Reason("exploration", "new or rarely shown: exploring whether you like it")
        if r.reason is ReasonKind.POPULAR:
            return Reason("popular", "popular right now")
        if source == "attributes":
            return Reason(
                "attributes",
                f"liked by people like you ({', '.join(user_tokens)})",
                matched_attributes=list(user_tokens),
            )
        return self.similar(r.item, state, now)

    def similar(self, item: int, state: UserState, now: float) -> Reason:
        """The history events that pull V_u toward `item`, strongest first (at most 3)."""
        expl = self.model.explain(state)
        if expl is None or len(expl.items) == 0:
            return Reason("similar", "similar to your interests")
        index = self.items.index
        hist = expl.items.astype(np.int64)
        item_vec = index.vectors(np.array([item]))[0]
        shares = (
            influences(expl.weights, index.vectors(hist), item_vec)
            if bool(index.contains(hist).all())
            else expl.weights
        )
        order = np.argsort(-shares)[:3]
        infl = [
            Influence(
                self.items.store.items.external(int(hist[j])),
                self.names[int(state.types[expl.positions[j]])],
                float(state.times[expl.positions[j]]),
                float(shares[j]),
            )
            for j in order
        ]
        top = int(hist[order[0]])
        matched = sorted(set(self.items.tokens[item]) & set(self.items.tokens[top]))
        text = similar_text(infl[0], self.items.title(top), has_time=self.has_timestamps, now=now)
        return Reason("similar", text, infl, matched)
