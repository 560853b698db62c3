"""Exploration: a share of slots for new or rarely shown items, so they can earn feedback.

Which items is random (seeded by the caller, so a request can be replayed); where they go
is deterministic, spread over the list below the first few personal slots.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attune.ranking.candidates import RankedItem, ReasonKind
from attune.ranking.catalogue import ItemCatalogue


class ExplorationConfig(BaseModel):
    """How many exploration slots a list gets and which items may fill them."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    share: float = Field(0.0, ge=0.0, le=1.0)
    """Share of the k slots for exploration, rounded down (0.2 of k=10 -> 2 slots; 0 = off)."""
    first_position: int = Field(2, ge=0)
    """Earliest 0-based slot an exploration item may take, so the top stays personal."""
    new_item_seconds: float = Field(7 * 86_400.0, ge=0.0)
    """Items created less than this long ago count as new."""
    max_exposures: int = Field(50, ge=0)
    """Items shown fewer times than this count as under-exposed."""
    pool_size: int = Field(50, ge=1)
    """Exploration items are drawn uniformly from this many most relevant eligible items."""
    score_sample: int = Field(5_000, ge=1)
    """At most this many eligible items (a seeded random subset) are scored for relevance."""


def exploration_positions(k: int, config: ExplorationConfig) -> np.ndarray:
    """0-based slots for exploration items, evenly spread over [first_position, k)."""
    room = max(k - config.first_position, 0)
    n = min(int(config.share * k + 1e-9), room)
    if n == 0:
        return np.empty(0, np.int64)
    return config.first_position + (np.arange(n) * room) // n


def exploration_candidates(
    catalogue: ItemCatalogue,
    exposures: np.ndarray,
    now: float,
    allowed: np.ndarray,
    config: ExplorationConfig,
) -> np.ndarray:
    """Item ids that are allowed and either new or under-exposed.

    `exposures[i]` counts how often item i was shown; items past its end count as never shown.
    """
    n = catalogue.n_items
    shown = np.zeros(n, np.int64)
    m = min(n, len(exposures))
    shown[:m] = exposures[:m]
    with np.errstate(invalid="ignore"):
        new = (now - catalogue.created) < config.new_item_seconds  # NaN created: not new
    eligible = (new | (shown < config.max_exposures)) & allowed[:n]
    return np.flatnonzero(eligible)


def pick_exploration(
    candidates: np.ndarray,
    n: int,
    rng: np.random.Generator,
    config: ExplorationConfig,
    relevance: np.ndarray | None = None,
) -> np.ndarray:
    """Draw n distinct candidates uniformly among the `pool_size` most relevant ones.

    `relevance` aligns with `candidates`; without it (cold user) the draw is uniform over all.
    """
    if n <= 0 or len(candidates) == 0:
        return np.empty(0, np.int64)
    pool = candidates
    if relevance is not None and len(candidates) > config.pool_size:
        pool = candidates[np.argsort(-relevance, kind="stable")[: config.pool_size]]
    return rng.choice(pool, size=min(n, len(pool)), replace=False)


def exploration_item(
    item: int, score: float, catalogue: ItemCatalogue, exposures: np.ndarray, now: float
) -> RankedItem:
    """A `RankedItem` marked `exploration`, with the facts that made it eligible."""
    shown = int(exposures[item]) if item < len(exposures) else 0
    created = float(catalogue.created[item])
    age = None if np.isnan(created) else now - created
    return RankedItem(
        item=item,
        score=score,
        reason=ReasonKind.EXPLORATION,
        details={"exposures": shown, "age_seconds": age},
    )


def place(
    main: list[RankedItem], explore: list[RankedItem], positions: np.ndarray, k: int
) -> list[RankedItem]:
    """Exploration items at their positions, main items in order around them, k at most.

    When the main list runs out before a position, the remaining exploration items follow
    directly rather than leaving a gap.
    """
    slots = {int(p): e for p, e in zip(positions, explore, strict=False)}
    pending = [slots[p] for p in sorted(slots)]
    rest = iter(main)
    out: list[RankedItem] = []
    while len(out) < k:
        pos = len(out)
        if pos in slots:
            out.append(slots[pos])
            pending.remove(slots[pos])
            continue
        nxt = next(rest, None)
        if nxt is None:
            out.extend(pending[: k - len(out)])
            break
        out.append(nxt)
    return out
