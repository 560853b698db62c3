"""The typed records that enter Attune: interactions, item updates and user updates.

Every record is validated once, at the edge (importer, API, engine), and is immutable after.
Ids are strings externally; the data layer's vocabularies map them to dense internal indices.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_ID_LENGTH = 256
"""Longest accepted external id, in characters."""

ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, strip_whitespace=True)
]

MAX_EVENT_ID_LENGTH = 128
"""Longest accepted client event id, in characters."""

EventId = Annotated[ExternalId, StringConstraints(max_length=MAX_EVENT_ID_LENGTH)]
"""A client's id for one event: the character rule of user and item ids, at most 128
characters. Unique per user: an event whose id the user already has is not applied again."""

AttributeValue = str | float | int | bool | list[str]
"""One attribute of an item or user: a category, a tag list, a text, a number or a flag."""


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
    event_id: EventId | None = Field(
        None,
        description="The client's id for this event, unique per user: an event whose id the "
        "user already has is acknowledged and not applied again (safe retries).",
    )

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
