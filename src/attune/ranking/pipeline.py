"""One recommendation list: filter mask -> retrieval -> diversity -> popular fill -> exploration.

Pure: the engine passes in the user vector, the index, the compiled filter, the user's items,
popularity and exposure counts, and gets `RankedItem`s back in internal ids.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attune.ports import PopularityCounts
from attune.ranking.candidates import RankedItem, ReasonKind
from attune.ranking.diversity import (
    DiversityConfig,
    ValueCap,
    attribute_groups,
    diversify,
    list_cap,
)
from attune.ranking.exploration import (
    ExplorationConfig,
    exploration_candidates,
    exploration_item,
    exploration_positions,
    pick_exploration,
    place,
)
from attune.ranking.filters import CompiledFilter, UserItems
from attune.retrieval import ItemIndex


class RankingConfig(BaseModel):
    """Everything that shapes a list after retrieval."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    diversity: DiversityConfig = DiversityConfig()
    """MMR and the per-attribute cap."""
    exploration: ExplorationConfig = ExplorationConfig()
    """Exploration slots."""
    pool_growth: float = Field(2.0, gt=1.0)
    """When a cap leaves the list short, the candidate pool grows by this factor and retries."""
    max_pool: int = Field(4096, ge=1)
    """Largest candidate pool retrieved for one list."""


@dataclass(frozen=True)
class RankContext:
    """The per-request inputs besides the user vector."""

    index: ItemIndex
    filter: CompiledFilter
    now: float
    user: UserItems | None = None
    popularity: PopularityCounts | None = None
    """Fills the list when personal candidates run out, and ranks for users without a vector."""
    exposures: np.ndarray | None = None
    """Times each item was shown; needed for exploration."""


def rank(
    query: np.ndarray | None,
    k: int,
    ctx: RankContext,
    config: RankingConfig | None = None,
    rng: np.random.Generator | None = None,
) -> list[RankedItem]:
    """The top-k list for one user vector (None = cold user: popularity and exploration).

    Returns k items whenever k items pass the filter (and, without popularity, are in the
    index); fewer only when fewer are eligible.
    """
    config = config or RankingConfig()
    # Rules for everyone stay one cached mask; the user's own removals stay a short list,
    # which the index drops from an over-fetched list instead of copying the mask.
    allowed = ctx.filter.shared_mask(ctx.now)
    excluded = ctx.filter.user_excluded(ctx.user)
    cap = list_cap(ctx.filter.catalogue, config.diversity, allowed, k)
    counts: Counter[int] = Counter()
    main: list[RankedItem] = []
    if query is not None and k > 0:
        q = np.asarray(query, np.float32)
        main = _personal(q, k, ctx, allowed, excluded, config, cap, counts)
    if len(main) < k and ctx.popularity is not None:
        taken = np.concatenate([excluded, np.asarray([r.item for r in main], np.int64)])
        main += _popular(k - len(main), ctx, allowed, taken, cap, counts)

    positions = exploration_positions(k, config.exploration)
    if len(positions) == 0 or ctx.exposures is None:
        return main[:k]
    listed = np.concatenate([excluded, np.asarray([r.item for r in main], np.int64)])
    explore = _exploration(
        query,
        len(positions),
        ctx,
        config.exploration,
        allowed,
        listed,
        rng or np.random.default_rng(),
    )
    return place(main, explore, positions[: len(explore)], k)


def _exploration(
    query: np.ndarray | None,
    n: int,
    ctx: RankContext,
    config: ExplorationConfig,
    allowed: np.ndarray,
    listed: np.ndarray,
    rng: np.random.Generator,
) -> list[RankedItem]:
    """Up to n new or under-exposed allowed items not listed yet, drawn near the user."""
    assert ctx.exposures is not None
    ok = allowed.copy()
    ok[listed[(listed >= 0) & (listed < len(ok))]] = False
    cand = exploration_candidates(ctx.filter.catalogue, ctx.exposures, ctx.now, ok, config)
    if query is not None:
        cand = cand[ctx.index.contains(cand)]  # relevance needs a vector
    if len(cand) > config.score_sample:
        cand = rng.choice(cand, size=config.score_sample, replace=False)
    relevance = None
    if query is not None and len(cand):
        q = np.asarray(query, np.float32)
        relevance = ctx.index.vectors(cand) @ (q / max(float(np.linalg.norm(q)), 1e-12))
    picked = pick_exploration(cand, n, rng, config, relevance)
    return [
        exploration_item(
            int(i),
            0.0 if relevance is None else float(relevance[cand == i][0]),
            ctx.filter.catalogue,
            ctx.exposures,
            ctx.now,
        )
        for i in picked
    ]


def _personal(
    query: np.ndarray,
    k: int,
    ctx: RankContext,
    allowed: np.ndarray,
    excluded: np.ndarray,
    config: RankingConfig,
    cap: ValueCap | None,
    counts: Counter[int],
) -> list[RankedItem]:
    """Similar items; the pool grows until the diversity pass can fill k (or runs dry)."""
    div = config.diversity
    pool = min(config.max_pool, math.ceil(k * div.pool_factor)) if div.active else k
    while True:
        ids, scores = ctx.index.search(query[None, :], pool, allowed=allowed, exclude=[excluded])
        keep = ids[0] >= 0
        ids, scores = ids[0][keep], scores[0][keep]
        trial: Counter[int] = Counter(counts)
        chosen = _diversified(ids, scores, k, ctx, div, cap, trial)
        exhausted = len(ids) < pool or pool >= config.max_pool
        if len(chosen) < k and exhausted and cap is not None and cap.soft:
            # The diversity's share of the cap is soft: a short list takes the rest anyway.
            trial = Counter(counts)
            chosen = _diversified(ids, scores, k, ctx, div, cap.relaxed, trial)
        if len(chosen) >= k or exhausted:
            counts.clear()
            counts.update(trial)
            return [RankedItem(int(ids[c]), float(scores[c]), ReasonKind.SIMILAR) for c in chosen]
        pool = min(config.max_pool, math.ceil(pool * config.pool_growth))


def _diversified(
    ids: np.ndarray,
    scores: np.ndarray,
    k: int,
    ctx: RankContext,
    div: DiversityConfig,
    cap: ValueCap | None,
    counts: Counter[int],
) -> np.ndarray:
    if not div.active and cap is None:
        return np.arange(min(k, len(ids)))
    groups = attribute_groups(ctx.filter.catalogue, ids, cap.field) if cap else None
    return diversify(
        scores,
        k,
        vectors=ctx.index.vectors(ids) if div.mmr_lambda > 0 else None,
        mmr_lambda=div.mmr_lambda,
        groups=groups,
        cap=cap.per_value if cap else None,
        counts=counts,
    )


def _popular(
    n: int,
    ctx: RankContext,
    allowed: np.ndarray,
    taken: np.ndarray,
    cap: ValueCap | None,
    counts: Counter[int],
) -> list[RankedItem]:
    """Most popular allowed items not yet listed, honouring the attribute cap."""
    assert ctx.popularity is not None
    want = n
    while True:
        ids, scores = ctx.popularity.top(want, ctx.now, allowed=allowed, exclude=taken)
        if cap is None:
            chosen = np.arange(len(ids))[:n]
        else:
            groups = attribute_groups(ctx.filter.catalogue, ids, cap.field)
            trial: Counter[int] = Counter(counts)
            chosen = diversify(scores, n, groups=groups, cap=cap.per_value, counts=trial)
            if len(chosen) < n and len(ids) == want:
                want *= 2
                continue
            if len(chosen) < n and cap.soft:
                cap = cap.relaxed  # the diversity's share of the cap is soft (see _personal)
                continue
            counts.clear()
            counts.update(trial)
        return [RankedItem(int(ids[c]), float(scores[c]), ReasonKind.POPULAR) for c in chosen]
