"""The event log port: the durable, append-only record of interactions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from attune.data.events import EventTypes, Interaction


class LoggedEvent(NamedTuple):
    """One event as the log holds it, in internal indices."""

    seq: int
    """Position in the log: strictly increasing, the replay order."""
    user: int
    item: int
    event_type: int
    """Code into `EventTypes.names`."""
    timestamp: float
    """Seconds since the epoch."""
    value: float
    """NaN when the event carries no value."""
    recommendation_id: str | None = None


class EventLog(Protocol):
    """Durable, append-only log of interactions; the source of truth for user state.

    Appending grows the id vocabularies (`Storage.users`, `Storage.items`) with the ids it has
    not seen, in the same atomic unit as the events.

    Appending is idempotent by event id, per user: an event whose `event_id` its user already
    has in the log (from an earlier append or earlier in the same batch) is not logged again.
    The check and the append are one atomic unit, so two writers cannot both log an id. Events
    without an id are always logged. Erasing a user forgets their event ids with their events.
    """

    def append_events(
        self, events: Sequence[Interaction], event_types: EventTypes | None = None
    ) -> list[LoggedEvent]:
        """Append in one atomic unit; durable on return. Unknown ids are added.

        Returns the events that were new, in batch order: repeats of a logged event id are
        left out (the caller acknowledges them without applying them again).
        """
        ...

    def read_events(self, after: int = 0, *, user: int | None = None) -> Iterator[LoggedEvent]:
        """Events with seq > `after`, in log order (optionally of one user)."""
        ...

    def event_columns(self) -> np.ndarray:
        """The whole log as one float64 array [N, 6]: seq, user, item, event type, time, value
        (NaN when none), in log order, without per-event Python objects (training reads)."""
        ...

    def last_seq(self) -> int:
        """The newest event's seq; 0 for an empty log."""
        ...

    def count(self) -> int:
        """Events held now (erased ones are gone)."""
        ...

    def erase_user(self, user: int) -> int:
        """Remove every event of a user; returns how many."""
        ...
