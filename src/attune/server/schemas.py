"""Bodies of the HTTP API, shared by the server and the Python client (`attune.client`).

Pure pydantic: importing this module pulls in no web framework. Events and item/user updates
are the data layer's own typed records; the rest are the API's requests and answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, WithJsonSchema

from attune.data.events import AttributeValue, Interaction, ItemUpdate
from attune.ranking import FilterSpec

MAX_BATCH = 1000
"""Most events (or item updates) in one request."""
MAX_K = 1000
"""Largest list a request may ask for (the engine's `max_k` may lower it)."""


# Request bodies are strict: JSON types as the schema documents them (no "1" for 1, no 1 for
# true). Times are the exception, read leniently: ISO 8601 strings (date or date-time) and Unix
# seconds (number or digits); their schema says so rather than promise `format: date-time`.
_STRICT = ConfigDict(strict=True)
Instant = Annotated[datetime, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}]})]
"""A point in time: ISO 8601 (UTC if no zone) or seconds since the epoch."""
_WHEN = " ISO 8601 (UTC if no zone) or seconds since the epoch."


class Event(Interaction):
    """A user did something to an item (an `Interaction`, as the API documents it)."""

    model_config = _STRICT

    timestamp: Instant = Field(
        default_factory=lambda: datetime.now(UTC),
        strict=False,
        description="When it happened (default now):" + _WHEN,
    )


class ItemIn(ItemUpdate):
    """Create or change an item's attributes and availability (an `ItemUpdate`)."""

    model_config = _STRICT

    available_from: Instant | None = Field(
        None, strict=False, description="Not recommended before:" + _WHEN
    )
    available_until: Instant | None = Field(
        None, strict=False, description="Not recommended after:" + _WHEN
    )
    created: Instant = Field(
        default_factory=lambda: datetime.now(UTC),
        strict=False,
        description="When the item was created (default now):" + _WHEN,
    )


class Filters(FilterSpec):
    """Which items a request may return (a `FilterSpec`)."""

    model_config = _STRICT

    # Duplicates are harmless: documented as a plain array, read into a set.
    reconsumable_event_types: Annotated[
        frozenset[str], WithJsonSchema({"type": "array", "items": {"type": "string"}})
    ] = Field(
        frozenset(),
        strict=False,
        description=FilterSpec.model_fields["reconsumable_event_types"].description,
    )


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, list) else "event"


EventsBody = Annotated[
    Annotated[Event, Tag("event")]
    | Annotated[list[Event], Tag("batch"), Field(min_length=1, max_length=MAX_BATCH)],
    Discriminator(_shape),
]
"""One event object, or an array of 1 to 1,000 of them."""


# -- errors -------------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One problem with one input field."""

    field: str = Field(
        description="The offending field: a parameter name, or a body path like `[3].user_id`."
    )
    message: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An error, shaped as RFC 9457 problem details (`application/problem+json`)."""

    type: str = Field("about:blank", description="URI naming the problem type.")
    title: str = Field(description="Short summary of the problem type (the HTTP reason).")
    status: int = Field(description="HTTP status code.")
    detail: str = Field(description="What went wrong in this request.")
    errors: list[FieldError] = Field(
        default_factory=list, description="The fields at fault, when the input was invalid."
    )


# -- events -------------------------------------------------------------------------------------


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


# -- recommendations ----------------------------------------------------------------------------


class Influence(BaseModel):
    """One past event and how much it drove a recommendation."""

    item_id: str = Field(description="The item of the past event.")
    event_type: str = Field(description="What the user did to it.")
    timestamp: float = Field(description="When, in seconds since the epoch.")
    weight: float = Field(description="Share of the recommendation attributed to this event.")


class Reason(BaseModel):
    """Why an item is in a list, in words and in facts."""

    kind: str = Field(
        description="similar (close to the user's recent events), popular, exploration "
        "(new or rarely shown), attributes (liked by similar users), or unscored."
    )
    text: str = Field(description="The reason as a sentence for the end user.")
    influences: list[Influence] = Field(
        default_factory=list, description="Past events behind a `similar` reason, strongest first."
    )
    matched_attributes: list[str] = Field(
        default_factory=list, description="`field=value` attributes the item shares with them."
    )


class RecommendedItem(BaseModel):
    """One entry of a recommendation list."""

    item_id: str = Field(description="External item id.")
    score: float = Field(description="Cosine to the user's interest, or recent popularity.")
    reason: Reason = Field(description="Why the item is listed.")


class Recommendations(BaseModel):
    """A served list. Send `recommendation_id` back with the events it leads to."""

    recommendation_id: str = Field(description="Id of this list, for attributing later events.")
    user_id: str = Field(description="Whom the list is for.")
    model_version: int = Field(description="Version of the model that served it.")
    source: str = Field(
        description="What produced it: model (the user's history), attributes (cold start from "
        "user attributes) or popularity (cold start without attributes)."
    )
    items: list[RecommendedItem] = Field(description="The items, best first.")


class RecommendRequest(BaseModel):
    """A recommendation request with full filters (the POST form)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    k: int = Field(10, ge=1, le=MAX_K, description="Length of the list.")
    filters: Filters | None = Field(
        None, description="Which items may be returned; omitted = the server's default rules."
    )
    diversity: float | None = Field(
        None, ge=0.0, le=1.0, description="MMR weight of variety: 0 = off, 1 = only variety."
    )
    explore: float | None = Field(
        None, ge=0.0, le=1.0, description="Share of the list given to new or rarely shown items."
    )


class Explanation(BaseModel):
    """Why an item scores as it does for a user."""

    user_id: str = Field(description="The user.")
    item_id: str = Field(description="The item explained.")
    reason: Reason = Field(description="The history events behind the score.")


class HistoryEvent(BaseModel):
    """One event of the window the model reads."""

    item_id: str = Field(description="External item id.")
    event_type: str = Field(description="What the user did.")
    timestamp: float = Field(description="When, in seconds since the epoch.")


class History(BaseModel):
    """A user's recent positive events, oldest first: what their recommendations follow."""

    user_id: str = Field(description="The user.")
    events: list[HistoryEvent] = Field(description="Recent events, oldest first.")


class SimilarItem(BaseModel):
    """An item close to another one."""

    item_id: str = Field(description="External item id.")
    score: float = Field(description="Cosine between the two items' vectors.")


class SimilarItems(BaseModel):
    """Items whose vectors are closest to one item's."""

    item_id: str = Field(description="The item asked about.")
    items: list[SimilarItem] = Field(description="The closest items, closest first.")


# -- catalogue and users ------------------------------------------------------------------------


class ItemBody(BaseModel):
    """An item's attributes and availability (the id is in the path)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        description="Attributes: categories/tags (list of strings), brand, title, numbers.",
    )
    available_from: Instant | None = Field(
        None, strict=False, description="Not recommended before:" + _WHEN
    )
    available_until: Instant | None = Field(
        None, strict=False, description="Not recommended after:" + _WHEN
    )
    blocked: bool = Field(False, description="Global blocklist: never recommend this item.")
    created: Instant | None = Field(
        None, strict=False, description="When the item was created (default now):" + _WHEN
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


# -- operations ---------------------------------------------------------------------------------


class Health(BaseModel):
    """Liveness: the process answers."""

    status: str = Field(description="Always `ok`.")


class Readiness(BaseModel):
    """Readiness: the engine is loaded and the store answers."""

    status: str = Field(description="`ready`.")
    model_version: int = Field(description="Version of the model being served.")
    users: int = Field(description="User ids known to the store.")
    items: int = Field(description="Item ids known to the store.")
    last_seq: int = Field(description="Log position of the newest event.")


# -- traffic, directory and reports (what the web console reads) --------------------------------


class TrafficPoint(BaseModel):
    """One complete second of the server's traffic."""

    time: int = Field(description="Start of the second, in seconds since the epoch.")
    events: int = Field(description="Events accepted during that second.")
    recommendations: int = Field(description="Recommendation lists served during that second.")
    p50_ms: float | None = Field(
        description="Median latency of those lists in milliseconds; null if none was served."
    )
    p99_ms: float | None = Field(
        description="99th percentile latency of those lists in ms; null if none was served."
    )


class Stats(BaseModel):
    """What the server holds and how busy it has been lately."""

    model_version: int = Field(description="Version of the model being served.")
    users: int = Field(description="User ids known to the store.")
    items: int = Field(description="Item ids known to the store.")
    events: int = Field(description="Events in the log.")
    refresh_backlog: int = Field(
        description="Users whose V_u awaits the background refresh after bulk ingests (reads "
        "refresh such a user on the spot)."
    )
    window_s: int = Field(description="Seconds covered by `series` and the figures below.")
    events_per_s: float = Field(description="Mean events accepted per second over the window.")
    recommend_p50_ms: float | None = Field(
        description="Median recommendation latency over the window (ms); null if none served."
    )
    recommend_p99_ms: float | None = Field(
        description="99th percentile recommendation latency over the window (ms); null if none."
    )
    series: list[TrafficPoint] = Field(description="Each second of the window, oldest first.")


class UserSummary(BaseModel):
    """A user id with the facts that tell users apart in a list."""

    user_id: str = Field(description="External user id.")
    history: int = Field(description="Events in the window the model reads for this user.")
    attributes: dict[str, AttributeValue] = Field(
        description="The user's attributes (empty if none were given)."
    )


class UserList(BaseModel):
    """Users whose id starts with a prefix."""

    users: list[UserSummary] = Field(
        description="An exact id match first, then the others in the order they became known."
    )
    more: bool = Field(description="Whether more users match than were returned.")


class ItemSummary(BaseModel):
    """What the catalogue says about one item."""

    item_id: str = Field(description="External item id.")
    known: bool = Field(description="Whether the catalogue holds this item.")
    title: str | None = Field(description="The item's `title` attribute, if it has one.")
    attributes: dict[str, AttributeValue] = Field(description="The item's attributes.")


class ItemList(BaseModel):
    """Items looked up by id, in the order asked."""

    items: list[ItemSummary] = Field(description="One entry per requested id.")


class Report(BaseModel):
    """An evaluation report as the benchmarks write it (`<name>.json`), with its plots."""

    name: str = Field(description="The report's file name without `.json`.")
    date: str | None = Field(description="When it was written (ISO 8601), if it says.")
    command: str | None = Field(description="The command that produced it, if it says.")
    commit: str | None = Field(description="The code version it ran, if it says.")
    machine: str | None = Field(description="The machine it ran on, if it says.")
    metrics: dict[str, float] = Field(description="Its numeric metrics by name.")
    plots: list[str] = Field(
        description="PNG files of the report (`<name>*.png`), served under "
        "`/v1/reports/plots/{file}`."
    )
