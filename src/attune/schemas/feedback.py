"""Click-through and conversion of served lists, as `/v1/feedback` and `attune report` show it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VersionFeedback(BaseModel):
    """Served lists and the reactions to them, for one model version."""

    model_version: int = Field(description="Version of the model that served the lists.")
    lists: int = Field(description="Lists served (impressions).")
    items: int = Field(description="Items shown in those lists.")
    clicks: int = Field(description="Shown items clicked (each list item counted once at most).")
    conversions: int = Field(
        description="Shown items converted (each list item counted once at most)."
    )
    ctr: float = Field(description="Click-through rate: clicks / items shown (0 when none).")
    conversion_rate: float = Field(description="Conversions / items shown (0 when none).")


class ReasonFeedback(BaseModel):
    """Shown items and the reactions to them, for one model version and reason kind."""

    model_version: int = Field(description="Version of the model that served the lists.")
    reason: str = Field(description="Reason kind of the items (similar, popular, exploration...).")
    items: int = Field(description="Items shown with this reason.")
    clicks: int = Field(description="Of those, items clicked (once at most each).")
    conversions: int = Field(description="Of those, items converted (once at most each).")
    ctr: float = Field(description="Click-through rate: clicks / items shown (0 when none).")


class FeedbackSummary(BaseModel):
    """Click-through and conversion of served lists, per model version and per reason."""

    by_version: list[VersionFeedback] = Field(description="One entry per model version.")
    by_reason: list[ReasonFeedback] = Field(
        description="One entry per model version and reason kind."
    )
    unattributed: int = Field(
        description="Events that named a recommendation id but could not be joined to a shown "
        "item: unknown or expired list, item not in the list, or another user's list."
    )
    untagged: int = Field(
        0,
        description="Events that named no recommendation id but could have: on an item shown "
        "to their user in a list served at most the attribution window before the event.",
    )
