"""Items and users: attribute updates, one at a time or in bulk, and erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from attune.schemas.records import AttributeValue, ItemUpdate
from attune.schemas.request import MAX_BATCH, STRICT, WHEN, Instant


class ItemIn(ItemUpdate):
    """Create or change an item's attributes and availability (an `ItemUpdate`)."""

    model_config = STRICT

    available_from: Instant | None = Field(
        None, strict=False, description="Not recommended before:" + WHEN
    )
    available_until: Instant | None = Field(
        None, strict=False, description="Not recommended after:" + WHEN
    )
    created: Instant = Field(
        default_factory=lambda: datetime.now(UTC),
        strict=False,
        description="When the item was created (default now):" + WHEN,
    )


class ItemBody(BaseModel):
    """An item's attributes and availability (the id is in the path)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        description="Attributes: categories/tags (list of strings), brand, title, numbers.",
    )
    available_from: Instant | None = Field(
        None, strict=False, description="Not recommended before:" + WHEN
    )
    available_until: Instant | None = Field(
        None, strict=False, description="Not recommended after:" + WHEN
    )
    blocked: bool = Field(False, description="Global blocklist: never recommend this item.")
    created: Instant | None = Field(
        None, strict=False, description="When the item was created (default now):" + WHEN
    )


ItemsBody = Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_BATCH)]
"""Bulk item updates: an array of 1 to 1,000."""


class UserBody(BaseModel):
    """A user's attributes (the id is in the path)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        description="Attributes such as age band, gender, occupation, country, tags.",
    )


class Upserted(BaseModel):
    """How many records a PUT created or changed."""

    upserted: int = Field(description="Records created or updated.")


class Erasure(BaseModel):
    """What erasing a user removed."""

    user_id: str = Field(description="The erased user.")
    events: int = Field(description="Events deleted from the log.")
    attributes: int = Field(description="Attribute records deleted (0 or 1).")
    state: int = Field(description="Interest states deleted (0 or 1).")
    impressions: int = Field(0, description="Logged lists served to the user deleted.")
    files_cleared: bool | None = Field(
        None,
        description="SQLite: whether the erased data is already gone from the database's files "
        "(false until the rebuild that follows erasures has run, `engine.erasure_rebuild_s` "
        "later, and while another connection still reads a snapshot from before the erasure; "
        "it is cleared as soon as both are done). Null where the backend does not say.",
    )
    model_versions: list[int] | None = Field(
        None,
        description="Versions of the served model registry that learned from the user (trained "
        "on one of their events, or were fine-tuned from a version that did), or that recorded "
        "no users (made before versions recorded them); `attune models forget` makes a version "
        "without them current. Null when the server serves no registry.",
    )
