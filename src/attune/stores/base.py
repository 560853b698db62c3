"""Narrow storage interfaces the engine depends on; backends live one per module.

The engine never sees SQL or Redis commands: it appends to an `EventLog` and reads and
writes packed user states through a `UserStateStore`. Every backend passes the same contract
tests (`tests/stores/contract.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from attune.data.events import EventTypes, Interaction
from attune.data.vocab import Vocabulary


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
    """Durable, append-only log of interactions; the source of truth for user state."""

    users: Vocabulary
    items: Vocabulary

    def append_events(
        self, events: Sequence[Interaction], event_types: EventTypes | None = None
    ) -> list[LoggedEvent]:
        """Append in one atomic unit; durable on return. Unknown ids are added."""
        ...

    def read_events(self, after: int = 0, *, user: int | None = None) -> Iterator[LoggedEvent]:
        """Events with seq > `after`, in log order (optionally of one user)."""
        ...

    def last_seq(self) -> int: ...

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Remove every event and attribute of a user; returns counts removed."""
        ...


class UserStateStore(Protocol):
    """Packed per-user state (bytes) by internal user index."""

    def get(self, user: int) -> bytes | None: ...

    def put(self, user: int, state: bytes) -> None: ...

    def delete(self, user: int) -> bool: ...

    def __len__(self) -> int: ...

    def users(self) -> Iterator[int]: ...

    def nbytes(self) -> int:
        """Memory held by the states (payload and per-entry overhead), in bytes."""
        ...

    def save_snapshot(self, path: Path, last_seq: int) -> None:
        """Write every state and the log position it reflects, atomically."""
        ...

    def load_snapshot(self, path: Path) -> int:
        """Replace the contents with a snapshot; returns its log position."""
        ...
