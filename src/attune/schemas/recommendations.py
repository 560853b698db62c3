"""Recommendation lists, their reasons, explanations, histories and similar items."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from attune.schemas.experiments import Arm
from attune.schemas.filters import Filters
from attune.schemas.request import MAX_K, Count


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
    experiment: str | None = Field(
        None, description="Id of the online A/B test the list was served in; null when none runs."
    )
    arm: Arm | None = Field(
        None,
        description="The user's arm of that test: control (the current version) or challenger "
        "(the version tested); stable for the user during the test.",
    )


class RecommendRequest(BaseModel):
    """A recommendation request with full filters (the POST form)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    k: Count = Field(10, ge=1, le=MAX_K, description="Length of the list.")
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
