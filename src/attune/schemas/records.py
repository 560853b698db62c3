"""The typed records that enter Attune: interactions, item updates and user updates.

Every record is validated once, at the edge (importer, API, engine), and is immutable after.
Ids are strings externally; the data layer's vocabularies map them to dense internal indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from attune.schemas.patterns import id_pattern

MAX_ID_LENGTH = 256
"""Longest accepted external id, in characters."""

RESERVED_ID_PREFIX = "\x00"
"""Start of the ids the stores make for themselves, such as an erased user's tombstone
(`\\x00erased:<n>`). It is a control character, so no accepted id can start with it, and
no accepted id can ever equal such a marker."""

ID_RULE = (
    "At most 256 characters. Surrounding white space is stripped; what remains is 1 or more "
    "printable characters: no control characters (tab, line breaks, NUL), no other "
    "non-printing Unicode (format characters, separators other than the plain space, "
    "surrogates, private-use or unassigned code points), and not `.` or `..`."
)
"""The id rule in words, for schema descriptions and error messages."""

_DOT_SEGMENTS = frozenset({".", ".."})
"""Ids no URL path can carry: clients resolve them as path steps, `%2E` included."""


def check_id(value: str, max_length: int = MAX_ID_LENGTH) -> str:
    """The one rule for user and item ids, at every entry point (API bodies and paths, the
    importers, the client): returns the id with surrounding white space stripped, or raises
    `ValueError` saying what is wrong. (`patterns.id_pattern` is the same rule as a JSON
    Schema pattern.)"""
    if len(value) > max_length:
        raise ValueError(f"an id may be at most {max_length} characters long")
    text = value.strip()
    if not text:
        raise ValueError("an id may not be empty")
    if text.startswith(RESERVED_ID_PREFIX):
        raise ValueError("ids starting with \\x00 are reserved for internal markers")
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        raise ValueError(f"an id may hold only printable characters, not {bad!r}")
    if text in _DOT_SEGMENTS:
        raise ValueError(f"{text!r} is not an id: URLs read it as a path step, even encoded")
    return text


def is_valid_id(value: str) -> bool:
    """Whether `value` is an id as given, already stripped (the fast paths' check)."""
    try:
        return check_id(value) == value
    except ValueError:
        return False


ID_FORMAT = "attune-id"
"""The JSON Schema `format` naming an id: an annotation beside the pattern, which says it all,
for tools that can generate ids faster than from a pattern with a class of 150,000 characters
(the schemathesis hooks in `bench/fuzz_hooks.py` do)."""


@dataclass(frozen=True)
class IdSchema:
    """The JSON Schema of an id of at most `max_length` characters: `check_id` as a pattern
    (built when a schema is asked for, not at import)."""

    max_length: int = MAX_ID_LENGTH

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "format": ID_FORMAT,
            "maxLength": self.max_length,
            "pattern": id_pattern(),
        }


ExternalId = Annotated[str, AfterValidator(check_id), IdSchema()]
"""A user or item id, held to `check_id`."""

MAX_EVENT_ID_LENGTH = 128
"""Longest accepted client event id, in characters."""

EventId = Annotated[
    str,
    AfterValidator(partial(check_id, max_length=MAX_EVENT_ID_LENGTH)),
    IdSchema(MAX_EVENT_ID_LENGTH),
]
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
