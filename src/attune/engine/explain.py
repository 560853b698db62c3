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
    ) -> list[Reason]:
        """Reasons of a whole list; the similarity work is one matrix product for all items."""
        similar = [r.item for r in ranked if r.reason is ReasonKind.SIMILAR]
        found = (
            dict(
                zip(
                    similar,
                    self.similar_many(np.asarray(similar, np.int64), state, expl, now),
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
        self, items: np.ndarray, state: UserState, expl: Explanation | None, now: float
    ) -> list[Reason]:
        """For each item, the history events that pull V_u toward it (strongest 3 first)."""
        if expl is None or len(expl.items) == 0:
            return [Reason("similar", "similar to your interests") for _ in items]
        index = self.items.index
        hist = expl.items.astype(np.int64)
        if bool(index.contains(hist).all()):
            h = index.vectors(hist)
            v = index.vectors(items)
            sims = np.clip(v @ h.T, 0.0, None)  # [items, history]; index vectors are unit
            raw = sims * expl.weights[None, :]
            total = raw.sum(axis=1, keepdims=True)
            base = expl.weights / max(float(expl.weights.sum()), 1e-12)
            shares = np.where(total > 0, raw / np.maximum(total, 1e-12), base[None, :])
        else:
            shares = np.repeat(expl.weights[None, :], len(items), axis=0)
        # One argsort for all rows, then plain Python over lists: per-item numpy indexing
        # (scalars out of arrays, a sort per row) took most of a list's time.
        orders = np.argsort(-shares, axis=1)[:, :3]
        top_shares = np.take_along_axis(shares, orders, axis=1).tolist()
        history = hist.tolist()
        types = state.types[expl.positions].tolist()
        times = state.times[expl.positions].tolist()
        external = self.items.store.items.external
        out = []
        for order, weights, item in zip(orders.tolist(), top_shares, items.tolist(), strict=True):
            infl = [
                Influence(external(history[j]), self.names[types[j]], times[j], w)
                for j, w in zip(order, weights, strict=True)
            ]
            top = history[order[0]]
            matched = sorted(set(self.items.tokens[item]) & set(self.items.tokens[top]))
            text = similar_text(
                infl[0], self.items.title(top), has_time=self.has_timestamps, now=now
            )
            out.append(Reason("similar", text, infl, matched))
        return out
