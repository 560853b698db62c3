"""Sending events: the `Event` body (one or a batch) and what happened to each event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, Tag

from attune.schemas.records import Interaction
from attune.schemas.request import MAX_BATCH, STRICT, WHEN, Instant


class Event(Interaction):
    """A user did something to an item (an `Interaction`, as the API documents it)."""

    model_config = STRICT

    timestamp: Instant = Field(
        default_factory=lambda: datetime.now(UTC),
        strict=False,
        description="When it happened (default now):" + WHEN,
    )


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, list) else "event"


EventsBody = Annotated[
    Annotated[Event, Tag("event")]
    | Annotated[list[Event], Tag("batch"), Field(min_length=1, max_length=MAX_BATCH)],
    Discriminator(_shape),
]
"""One event object, or an array of 1 to 1,000 of them."""


class Rejected(BaseModel):
    """One event of a batch that was not accepted (the others were)."""

    index: int = Field(description="Position of the event in the submitted batch.")
    field: str = Field(description="The field at fault.")
    message: str = Field(description="Why the event was rejected.")


class IngestResponse(BaseModel):
    """What happened to the submitted events."""

    accepted: int = Field(description="Events logged and applied to their users' state.")
    rejected: list[Rejected] = Field(description="Events not accepted, each with its reason.")
    last_seq: int = Field(description="Log position of the last accepted event (0 if none).")
    duplicates: int = Field(
        0,
        description="Events acknowledged but not applied again: their `event_id` was already "
        "logged for their user (an earlier call, or earlier in this batch).",
    )
