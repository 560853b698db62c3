"""What a ranked list is made of: items with a score and the reason they are there."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReasonKind(StrEnum):
    """Why an item is in the list; the engine turns these into user-facing explanations."""

    SIMILAR = "similar"
    """Close to the user's interest vector."""
    POPULAR = "popular"
    """Popular recently (cold-start fallback, or filler when personal candidates run out)."""
    EXPLORATION = "exploration"
    """A new or rarely shown item, placed to learn whether users like it."""


@dataclass
class RankedItem:
    """One entry of a recommendation list, in internal ids; the engine decorates it."""

    item: int
    """Internal item index."""
    score: float
    """Cosine to the user vector for personal items, decayed count for popular ones."""
    reason: ReasonKind
    details: dict[str, Any] = field(default_factory=dict)
    """Facts behind the reason (e.g. exposures of an exploration item)."""
