"""The closed set of typed records that enter Attune: interactions, item and user updates.

Every record is validated once, at the edge (importer, API, engine), and is immutable after.
Ids are strings externally; the vocabularies map them to dense internal indices.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_ID_LENGTH = 256
"""Longest accepted external id, in characters."""

ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, strip_whitespace=True)
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


class Interaction(BaseModel):
    """A user did something to an item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: ExternalId = Field(description="External user id.")
    item_id: ExternalId = Field(description="External item id.")
    event_type: str = Field("view", min_length=1, max_length=64, description="Event type name.")
    timestamp: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When it happened (ISO 8601 or seconds since the epoch); UTC if no zone.",
    )
    value: float | None = Field(None, description="Optional value: rating, watch fraction, price.")
    recommendation_id: str | None = Field(
        None, max_length=MAX_ID_LENGTH, description="Id of the served list this event reacts to."
    )
    context: dict[str, Any] = Field(default_factory=dict, description="Free-form context.")

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, ts: datetime) -> datetime:
        return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


AttributeValue = str | float | int | bool | list[str]


class ItemUpdate(BaseModel):
    """Create or change an item's attributes and availability."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: ExternalId = Field(description="External item id.")
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        description="Attributes: categories/tags (list of strings), brand, text, numbers.",
    )
    available_from: datetime | None = Field(None, description="Not recommended before this time.")
    available_until: datetime | None = Field(None, description="Not recommended after this time.")
    blocked: bool = Field(False, description="Global blocklist: never recommend this item.")
    created: datetime = Field(
        default_factory=lambda: datetime.now(UTC), description="When the item was created."
    )

    @field_validator("available_from", "available_until", "created")
    @classmethod
    def _aware(cls, ts: datetime | None) -> datetime | None:
        return ts if ts is None or ts.tzinfo is not None else ts.replace(tzinfo=UTC)


class UserUpdate(BaseModel):
    """Create or change a user's attributes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: ExternalId = Field(description="External user id.")
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        description="Attributes such as age band, gender, occupation, country, tags.",
    )


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
