"""What counts as a click-through and a conversion, and how impressions are kept.

`FeedbackConfig` is the user-facing definition (event type names); `Outcomes` resolves it
against the store's event types into integer codes once, so the online join and the SQL
report apply the very same rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from attune.data.events import EventTypes, Polarity


class FeedbackConfig(BaseModel):
    """Impression logging and the join of later events to the lists they react to."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    enabled: bool = True
    """Log every served list as an impression and join events to it (off: neither)."""
    click_types: tuple[str, ...] = ("click", "view", "like", "add_to_cart", "purchase", "rating")
    """Event types that count as a click-through on a shown item, when positive (a rating only
    at or above the rating threshold). Any positive engagement counts, because many sites log
    the visit of an item page as `view` rather than `click`, and an item bought straight from
    the list was clicked too. Negative types never count; names the store does not know are
    ignored."""
    conversion_types: tuple[str, ...] = ("purchase",)
    """Event types that count as a conversion of a shown item."""
    attribution_window_s: float = Field(7 * 86400.0, gt=0.0)
    """Events stamped later than this after the list was served are not attributed to it
    (they count as unattributed): a click a month later is not a reaction to the list."""
    recent_lists: int = Field(20_000, ge=0)
    """Served lists kept in memory for the join (least recent dropped, about 0.5 kB each);
    events naming an older list read it back from the database."""
    shown_lists: int = Field(20_000, ge=0)
    """Served lists whose items are kept in memory by user (newest first, about 0.2 kB each)
    to count the events that name no list but are on an item their user was shown in one:
    they could have named it (`untagged`). Older lists count in the report read at start."""
    flush_lists: int = Field(256, ge=1)
    """Buffered lists that trigger a write of the buffer."""
    flush_seconds: float = Field(1.0, ge=0.0)
    """A buffer whose oldest list is this old is written at the next list or event. A
    killed process may lose the impressions of about this long (never events: those are
    committed before `ingest` returns); events naming a lost list count as unattributed."""


@dataclass(frozen=True)
class Outcomes:
    """The click and conversion definition in event type codes (see `FeedbackConfig`)."""

    clicks: frozenset[int]
    conversions: frozenset[int]
    ratings: frozenset[int]
    """Codes of rating-polarity types: positive only at or above `rating_threshold`."""
    rating_threshold: float
    window_s: float

    @classmethod
    def resolve(cls, config: FeedbackConfig, event_types: EventTypes) -> Outcomes:
        def codes(names: tuple[str, ...]) -> frozenset[int]:
            known = event_types.types
            return frozenset(
                event_types.code(n)
                for n in names
                if n in known and known[n].polarity is not Polarity.NEGATIVE
            )

        ratings = frozenset(
            event_types.code(n)
            for n, spec in event_types.types.items()
            if spec.polarity is Polarity.RATING
        )
        return cls(
            clicks=codes(config.click_types),
            conversions=codes(config.conversion_types),
            ratings=ratings,
            rating_threshold=event_types.rating_threshold,
            window_s=config.attribution_window_s,
        )

    def _positive(self, code: int, value: float) -> bool:
        # Same rule as `EventTypes.is_positive`: a rating without a value counts as interest.
        return code not in self.ratings or math.isnan(value) or value >= self.rating_threshold

    def is_click(self, code: int, value: float) -> bool:
        return code in self.clicks and self._positive(code, value)

    def is_conversion(self, code: int, value: float) -> bool:
        return code in self.conversions and self._positive(code, value)
