"""The read side: ranked lists with their reasons, single-item explanations, similar items and
a user's history.

A list is ranked from the user's V_u when it is current, otherwise through the configured
fallbacks (the attribute profile of a cold user, then popularity); every served list is
recorded as an impression for feedback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attune.engine.context import EngineContext
from attune.engine.explain import Reason
from attune.engine.interest import Explanation
from attune.engine.refresh import UserVectors
from attune.engine.state import UserState
from attune.model.served import as_stored
from attune.ranking import FilterSpec, RankContext, RankingConfig, UserItems, rank
from attune.retrieval import ItemIndex


@dataclass(slots=True)  # built 10 times a request: not frozen, whose __init__ costs 3x
class Recommended:
    item_id: str
    score: float
    reason: Reason


@dataclass(frozen=True)
class Recommendations:
    recommendation_id: str
    user_id: str
    items: list[Recommended]
    model_version: int
    source: str
    """What produced the list: model, attributes (cold-start vector) or popularity."""
    experiment: str | None = None
    """Id of the online A/B test the list was served in; None when none runs."""
    arm: str | None = None
    """The user's arm of that test: control or challenger."""


@dataclass(frozen=True, slots=True)
class _Query:
    """What a list is ranked with: a user vector (None: popularity), what produced it, the
    item index of the same model, the model's version and the attention behind the vector."""

    vector: np.ndarray | None
    source: str
    index: ItemIndex
    version: int
    explanation: Explanation | None


class Recommender:
    """Lists, explanations and similar items over the served model and item side."""

    def __init__(self, ctx: EngineContext, vectors: UserVectors) -> None:
        self.ctx = ctx
        self.vectors = vectors

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
        ctx = self.ctx
        self._check_k(k)
        spec = self._filter_spec(filters, exclude)
        ranking = self._ranking(diversity, explore)
        now = time.time() if now is None else now
        read, idx = None, -1
        if self.vectors.shared is not None:  # its round trip need not hold the lock
            idx = ctx.user_index(user_id)
            read = self.vectors.state(idx) if idx >= 0 else UserState()
        with ctx.lock:
            if read is None or ctx.user_index(user_id) != idx:  # (erased meanwhile)
                idx = ctx.user_index(user_id)
                state = self.vectors.state(idx) if idx >= 0 else UserState()
            else:
                state = read
            query, experiment, arm = self._query_of(user_id, idx, state)
            rank_ctx = RankContext(
                index=query.index,
                filter=ctx.items.filters.get(spec),
                now=now,
                user=user_items(state),
                popularity=ctx.items.popularity,
                exposures=ctx.items.exposures,
            )
            ranked = rank(query.vector, k, rank_ctx, ranking, ctx.rng)
            shown = [r.item for r in ranked]
            ctx.items.exposures[shown] += 1
            tokens = ctx.user_tokens.get(idx, [])
            reasons = ctx.reasons.for_list(
                ranked, state, query.explanation, query.source, tokens, now, query.index
            )
            ids = ctx.item_ids(shown)
            items = [
                Recommended(item_id, r.score, reason)
                for item_id, r, reason in zip(ids, ranked, reasons, strict=True)
            ]
            rec_id = uuid.uuid4().hex
            kinds = [reason.kind for reason in reasons]
            user = idx if idx >= 0 else None
            ctx.feedback.record(
                rec_id, user, now, query.version, query.source, shown, kinds, experiment, arm
            )
        return Recommendations(
            rec_id, user_id, items, query.version, query.source, experiment or None, arm or None
        )

    def _query_of(self, user_id: str, idx: int, state: UserState) -> tuple[_Query, str, str]:
        """What to rank the user's list with, and the (experiment id, arm) it is served in
        ("" when no test runs). A challenger-arm user with a history the challenger can read
        is ranked by the challenger's V_u and index, any other challenger-arm user by
        popularity; a control-arm user by the served model's query and its fallbacks."""
        ctx = self.ctx
        test, side = ctx.challenger, ctx.items.challenger
        if test is None or side is None:
            return self._control(idx, state), "", ""
        arm = test.arm(user_id)
        if arm == "challenger" and idx >= 0:
            tokens = test.model.user_tokens(ctx.user_tokens.get(idx, []))
            result = test.user_vector(idx, state, tokens)
            if result is not None:
                vec, expl = result  # at the precision V_u is stored in, as it will be served
                vec = vec.astype(np.float16).astype(np.float32)
                query = _Query(vec, "model", side[1], test.model.version, expl)
                return query, test.experiment.id, arm
        if arm == "challenger":  # a history the challenger cannot read, or a new user
            # Not the control's V_u or attribute profile (its space, its model): the popularity
            # list both would fall back to, so the arm's counts hold no control-ranked list.
            query = _Query(None, "popularity", side[1], test.model.version, None)
            return query, test.experiment.id, arm
        return self._control(idx, state), test.experiment.id, arm

    def _control(self, idx: int, state: UserState) -> _Query:
        """The served model's query of a user (`query`), with its index and attention."""
        ctx = self.ctx
        vector, source = self.query(idx, state)
        expl = self.vectors.explanation(idx, state) if source == "model" else None
        return _Query(vector, source, ctx.items.index, ctx.model.version, expl)

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= self.ctx.config.max_k:
            raise ValueError(f"k must be in [1, {self.ctx.config.max_k}]")

    def _filter_spec(self, filters: FilterSpec | None, exclude: Sequence[str]) -> FilterSpec:
        """The request's filter (or the default), with `exclude` added."""
        spec = filters or self.ctx.config.default_filter
        if exclude:
            spec = spec.model_copy(update={"exclude_items": [*spec.exclude_items, *exclude]})
        return spec

    def _ranking(self, diversity: float | None, explore: float | None) -> RankingConfig:
        """The configured ranking, with the request's diversity and exploration share."""
        ranking = self.ctx.config.ranking
        if diversity is None and explore is None:
            return ranking
        return ranking.model_copy(
            update={
                "diversity": ranking.diversity.model_copy(
                    update={
                        "mmr_lambda": ranking.diversity.mmr_lambda
                        if diversity is None
                        else diversity
                    }
                ),
                "exploration": ranking.exploration.model_copy(
                    update={"share": ranking.exploration.share if explore is None else explore}
                ),
            }
        )

    def query(self, idx: int, state: UserState) -> tuple[np.ndarray | None, str]:
        """The vector to rank with and what it is: the user's V_u (refreshed when stale or
        pending), else the first fallback that has one."""
        ctx = self.ctx
        if state.vector is not None and state.has_vector_of(ctx.model.version, ctx.model.dim):
            return state.vector.astype(np.float32), "model"
        if (
            idx >= 0
            and len(state.items)
            and (
                not state.has_vector_of(ctx.model.version, ctx.model.dim)
                or self.vectors.is_pending(idx, state)
            )
        ):
            # Called under the lock: refresh directly. Waiting on the micro-batcher here could
            # deadlock with a combining thread that waits for the lock we hold.
            vec = self.vectors.refresh([idx]).get(idx)
            if vec is not None:
                return as_stored(vec), "model"
        for fallback in ctx.config.fallbacks:
            if fallback == "attributes":
                vec = ctx.profiles.vector(ctx.user_tokens.get(idx, []))
                if vec is not None:
                    return vec, "attributes"
            elif fallback == "popularity":
                return None, "popularity"
        return None, "popularity"

    def explain(self, user_id: str, item_id: str, now: float | None = None) -> Reason:
        """Why `item_id` scores as it does for `user_id`: the history events behind it."""
        ctx = self.ctx
        with ctx.lock:
            idx = ctx.known_user(user_id)
            item = ctx.known_item(item_id)
            state = self.vectors.state(idx)
            if not bool(ctx.items.index.contains(np.array([item]))[0]):
                return Reason("unscored", "the model has no vector for this item yet")
            expl = self.vectors.explanation(idx, state)
            when = time.time() if now is None else now
            return ctx.reasons.similar_many(np.array([item]), state, expl, when)[0]

    def similar_items(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """Items whose vectors are closest to `item_id`'s (the item itself excluded)."""
        self._check_k(k)
        with self.ctx.lock:
            index = self.ctx.items.index
            item = self.ctx.known_item(item_id)
            if not bool(index.contains(np.array([item]))[0]):
                return []
            vec = index.vectors(np.array([item]))
            ids, scores = index.search(vec, k, exclude=[np.array([item])])
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        names = self.ctx.item_ids(i for i, _ in found)
        return [(name, s) for name, (_, s) in zip(names, found, strict=True)]

    def history(self, user_id: str) -> list[tuple[str, str, float]]:
        """The user's recent positive window: (item id, event type, time), oldest first."""
        idx = self.ctx.known_user(user_id)
        s = self.vectors.state(idx)
        names = self.ctx.event_types.names
        ids = self.ctx.item_ids(s.items)
        return [
            (item_id, names[int(t)], float(ts))
            for item_id, t, ts in zip(ids, s.types, s.times, strict=True)
        ]


def user_items(state: UserState) -> UserItems:
    """The filter's view of a user: one (item, event type) row per type bit of each seen
    item, the hidden items and the negatively rated items."""
    items, types = seen_pairs(state.seen_items, state.seen_types)
    return UserItems(items, types, state.hidden.astype(np.int64), state.negative.astype(np.int64))


_BITS = np.arange(32, dtype=np.uint32)


def seen_pairs(seen_items: np.ndarray, seen_types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(items, event types): one row per set bit of each item's type mask, items in order and
    bits ascending within an item; vectorised, as `seen_pairs_reference` spells it out."""
    masks = seen_types.astype(np.uint32)
    width = int(masks.max()).bit_length() if len(masks) else 0
    rows, bits = np.nonzero((masks[:, None] >> _BITS[:width]) & 1)
    return seen_items[rows].astype(np.int64), bits.astype(np.int64)


def seen_pairs_reference(
    seen_items: np.ndarray, seen_types: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`seen_pairs` one bit at a time (the specification its tests compare against)."""
    items, types = [], []
    for item, mask in zip(seen_items.tolist(), seen_types.tolist(), strict=True):
        bit = 0
        while mask:
            if mask & 1:
                items.append(item)
                types.append(bit)
            mask >>= 1
            bit += 1
    return np.asarray(items, np.int64), np.asarray(types, np.int64)
