"""The impression port: served lists, joined later to the events that name them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from attune.ports.events import LoggedEvent


@dataclass(frozen=True, slots=True)
class Impression:
    """One served list, in internal indices."""

    recommendation_id: str
    user: int | None
    """Internal index of the user; None when the user was unknown when served (set by the
    first event joined to the list, so that the user's erasure also removes it)."""
    ts: float
    """When it was served, seconds since the epoch."""
    model_version: int
    source: str
    items: tuple[int, ...]
    """Item indices in position order."""
    reasons: tuple[str, ...]
    """Reason kind of the item at each position."""
    experiment: str = ""
    """Id of the online experiment the list was served in ("": none)."""
    arm: str = ""
    """The experiment's arm of the list's user: control or challenger ("": none)."""

    def position(self, item: int) -> int | None:
        try:
            return self.items.index(item)
        except ValueError:
            return None


class OutcomeRules(Protocol):
    """What counts as a click or a conversion, in event type codes (`feedback.Outcomes`)."""

    @property
    def clicks(self) -> frozenset[int]: ...

    @property
    def conversions(self) -> frozenset[int]: ...

    @property
    def ratings(self) -> frozenset[int]:
        """Codes of rating-polarity types: positive only at or above `rating_threshold`."""
        ...

    @property
    def rating_threshold(self) -> float: ...

    @property
    def window_s(self) -> float:
        """An event joins a list only within this many seconds of it being served."""
        ...


@dataclass
class ArmCounts:
    """The lists of one experiment arm and the reactions to their items."""

    lists: int = 0
    items: int = 0
    clicks: int = 0
    """Shown items clicked (each list item once at most)."""
    conversions: int = 0


@dataclass
class FeedbackCounts:
    """The stored impressions joined to the events that name them, counted."""

    lists: dict[int, int] = field(default_factory=dict)
    """Lists served per model version."""
    shown: dict[tuple[int, str], int] = field(default_factory=dict)
    """Items shown per (model version, reason kind)."""
    reacted: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    """(clicked, converted) shown items per (model version, reason kind); each list item
    counts once however many events it drew."""
    unattributed: int = 0
    """Events naming a list that join no shown item (unknown or expired list, item not in
    it, another user's list)."""
    untagged: int = 0
    """Events naming no list that could have named one: on an item shown to their user in a
    list served at most the attribution window before the event."""
    arms: dict[tuple[str, str], ArmCounts] = field(default_factory=dict)
    """Per (experiment id, arm): lists, shown items and reactions of the lists served in an
    online experiment."""


class ImpressionLog(Protocol):
    """Where impressions persist; the feedback join reads them back."""

    def write(self, impressions: Sequence[Impression], adopted: Mapping[str, int]) -> None:
        """Add impressions, and set the user of stored ones that had none, atomically."""
        ...

    def get(self, recommendation_id: str) -> Impression | None: ...

    def events_before(self, recommendation_id: str, seq: int) -> list[LoggedEvent]:
        """Logged events naming the list with seq < `seq`, in log order."""
        ...

    def report(self, rules: OutcomeRules) -> FeedbackCounts:
        """Everything stored, joined and counted by the storage alone."""
        ...

    def count(self, user: int | None = None) -> int: ...

    def delete_before(self, ts: float) -> int:
        """Prune impressions served before `ts`; returns how many."""
        ...

    def erase_user(self, user: int) -> int:
        """Remove a user's impressions; returns how many."""
        ...

    def save_definition(self, definition: Mapping[str, Any]) -> None:
        """Remember the feedback definition in use (for reports read from storage alone)."""
        ...

    def definition(self) -> dict[str, Any] | None: ...
