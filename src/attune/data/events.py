"""The closed set of typed records that enter Attune, and the configured event types.

The records (interactions, item and user updates) are defined in `attune.schemas.records`,
because the HTTP API's bodies are those records; they are re-exported here for the data layer.
Every record is validated once, at the edge (importer, API, engine), and is immutable after.
Ids are strings externally; the vocabularies map them to dense internal indices.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from attune.schemas.records import (
    MAX_EVENT_ID_LENGTH,
    MAX_ID_LENGTH,
    AttributeValue,
    EventId,
    ExternalId,
    Interaction,
    ItemUpdate,
    UserUpdate,
)
from attune.schemas.records import check_id as check_external_id

__all__ = [
    "DEFAULT_EVENT_TYPES",
    "HIDE_EVENT",
    "MAX_EVENT_ID_LENGTH",
    "MAX_ID_LENGTH",
    "AttributeValue",
    "EventId",
    "EventTypeSpec",
    "EventTypes",
    "ExternalId",
    "Interaction",
    "ItemUpdate",
    "Polarity",
    "UserUpdate",
    "attribute_tokens",
    "check_external_id",
]


class Polarity(StrEnum):
    """Whether an event says the user wants more of this item or less."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    RATING = "rating"
    """Positive when value >= the rating threshold, negative below it."""


class EventTypeSpec(BaseModel):
    """Weight and polarity of one event type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: float = Field(1.0, ge=0.0, description="Strength of the signal relative to a view.")
    polarity: Polarity = Field(Polarity.POSITIVE, description="Direction of the signal.")


DEFAULT_EVENT_TYPES: dict[str, EventTypeSpec] = {
    "view": EventTypeSpec(weight=1.0),
    "click": EventTypeSpec(weight=1.5),
    "add_to_cart": EventTypeSpec(weight=3.0),
    "purchase": EventTypeSpec(weight=5.0),
    "like": EventTypeSpec(weight=3.0),
    "rating": EventTypeSpec(weight=2.0, polarity=Polarity.RATING),
    "skip": EventTypeSpec(weight=1.0, polarity=Polarity.NEGATIVE),
    "dislike": EventTypeSpec(weight=3.0, polarity=Polarity.NEGATIVE),
    "not_interested": EventTypeSpec(weight=3.0, polarity=Polarity.NEGATIVE),
    # The user asked never to see the item again: filtered always, whatever the request says.
    "hide": EventTypeSpec(weight=0.0, polarity=Polarity.NEGATIVE),
}

HIDE_EVENT = "hide"
"""Event type that adds an item to the user's hidden items."""

WindowRule = Literal["positive", "all"]
"""Which events enter the model's window of a user (`EngineConfig.window`)."""
DEFAULT_WINDOW: WindowRule = "positive"
"""The engine's default rule, which offline scoring follows unless told otherwise."""


def enters_window(name: str, positive: bool, window: WindowRule) -> bool:
    """Whether an event of type `name` enters the model's window of a user: a positive one
    always; with the rule "all", every event but `hide`."""
    return positive or (window == "all" and name != HIDE_EVENT)


class EventTypes(BaseModel):
    """The configured event types: which names exist and how each one counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    types: dict[str, EventTypeSpec] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_TYPES),
        description="Event type name -> weight and polarity.",
    )
    rating_threshold: float = Field(
        3.5, description="Ratings at or above this value are positive, below it negative."
    )

    @property
    def names(self) -> list[str]:
        """Type names in a stable order; the position is the type's integer code."""
        return list(self.types)

    def code(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            known = ", ".join(self.names)
            raise ValueError(f"unknown event type {name!r} (known: {known})") from None

    def is_positive(self, name: str, value: float | None = None) -> bool:
        spec = self.types[name]
        if spec.polarity is Polarity.RATING:
            # A rating without a value carries no direction; treat it as interest.
            return value is None or math.isnan(value) or value >= self.rating_threshold
        return spec.polarity is Polarity.POSITIVE


def attribute_tokens(attributes: dict[str, AttributeValue]) -> list[str]:
    """Categorical `field=value` tokens of an attribute dict, the unit the model embeds.

    Lists give one token per element; numbers and free text are not tokens (they would make
    one token per distinct value), except booleans and small integers stored as strings.
    """
    tokens: list[str] = []
    for field, value in attributes.items():
        if isinstance(value, list):
            tokens.extend(f"{field}={v}" for v in value)
        elif isinstance(value, bool):
            tokens.append(f"{field}={str(value).lower()}")
        elif isinstance(value, str) and field not in ("title", "text", "description", "name"):
            tokens.append(f"{field}={value}")
    return tokens
