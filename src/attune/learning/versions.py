"""What the registry records per version: its data window (the slice of the log it learned
from) and its `version.json` (status, metrics, lineage)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DataWindow(BaseModel):
    """The slice of the event log a version learned from (log positions, inclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_seq: int = Field(0, description="First log position trained on (0: from the start).")
    last_seq: int = Field(0, description="Last log position trained on.")
    events: int = Field(0, description="Events in the window that were used for training.")
    first_time: float | None = Field(None, description="Time of the first event (epoch s).")
    last_time: float | None = Field(None, description="Time of the last event (epoch s).")
    checked_last_seq: int | None = Field(
        None,
        description="Last log position of the newer events the version was checked on (its "
        "round read the log up to there); None: it was not checked on any.",
    )

    cursor: tuple[int, ...] | None = Field(
        None,
        description="Per log partition (seq % P), the last seq accounted for: trained on, or "
        "passed over as backlog; None: last_seq in every partition (a log of one partition).",
    )
    checked_cursor: tuple[int, ...] | None = Field(
        None,
        description="Per log partition, the last seq the version's round read (trained or "
        "checked on); None: read_to_seq in every partition.",
    )

    @property
    def read_to_seq(self) -> int:
        """Last log position the version's round read, trained on or checked on: the next
        round from the same parent has nothing new to learn before events past it."""
        return self.last_seq if self.checked_last_seq is None else self.checked_last_seq


VersionStatus = Literal["published", "rejected"]


class VersionInfo(BaseModel):
    """What the registry knows about one version (its `version.json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1, description="Version number, unique and increasing.")
    parent: int | None = Field(None, description="Version it was fine-tuned from.")
    created: datetime = Field(description="When the version was written.")
    status: VersionStatus = Field(
        description="published: passed its evaluation; rejected: did worse than its parent."
    )
    data_window: DataWindow = Field(default_factory=DataWindow)
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Evaluation metrics (and its parent's, for contrast)."
    )
    note: str = Field("", description="Why it was published or rejected, in words.")
    users: int | None = Field(
        None,
        description="Users in its user set (`users.npy`: every user it or an ancestor trained "
        "on); None: not recorded, it may have seen anyone.",
    )


__all__ = ["DataWindow", "VersionInfo", "VersionStatus"]
