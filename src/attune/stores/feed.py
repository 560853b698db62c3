"""The learning feed of a store with one writer (SQLite, memory): position based.

One writer logs seqs in commit order, so "the events after the cursor" read from the log is
exactly what the learner has not accounted for; progress is the cursor the registry keeps and
nothing is acknowledged in the store.
"""

from __future__ import annotations

from collections.abc import Sequence

from attune.ports import EventLog, LoggedEvent, StorageError
from attune.ports.feed import PartitionTrim


class PositionFeed:
    """`LearningFeed` over a log of one partition."""

    partitions = 1

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def heads(self) -> list[int]:
        return [self._log.last_seq()]

    def take(self, cursor: Sequence[int]) -> list[LoggedEvent]:
        return list(self._log.read_events(after=max(cursor, default=0)))

    def acknowledge(self, cursor: Sequence[int]) -> int:
        return 0


def refuse_trim(backend: str) -> list[PartitionTrim]:
    """Trimming refused on a single-process store (docs/scaling.md, "Retention")."""
    raise StorageError(
        f"attune data trim works on a Redis store only: the {backend} event log is the record "
        "user states are rebuilt from whenever their snapshot is missing (a copy of the "
        "database alone, a lost .state file) and the data `attune train` reads, so none of it "
        "may go"
    )
