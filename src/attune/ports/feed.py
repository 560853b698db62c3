"""The learning feed port: how the learning job takes the logged events it has not learned
yet, and how an operator trims the log behind it.

Progress is a *cursor*: for each partition of the log, the highest seq accounted for (trained
on, or passed over as backlog, by the registry's current version). Within one partition the
log commits events in seq order, so "everything of partition `p` with seq <= cursor[p]" is
exact even where a lower seq of another partition commits after a higher one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from attune.ports.events import LoggedEvent

LEARN_GROUP = "attune-learn"
"""The learning job's consumer group (a stable name: its progress outlives the process)."""


class LearningFeed(Protocol):
    """The learning job's reader of the event log.

    On a store with one writer (SQLite, memory) this is position based: the events after the
    cursor, read from the log. On Redis it is the consumer group `group`: events the group
    delivered to no one yet, those delivered to this consumer and not acknowledged, and those
    another consumer left unacknowledged for `claim_idle_s` (a learner that died).
    """

    @property
    def partitions(self) -> int:
        """P: partition `p` holds the events with `seq % P == p`."""
        ...

    def heads(self) -> list[int]:
        """The newest seq of each partition (0 where none): a cursor covering the whole log as
        it is now."""
        ...

    def take(self, cursor: Sequence[int]) -> list[LoggedEvent]:
        """Every event the learner has not accounted for (seq > cursor[partition]), in seq
        order. Delivered events at or below the cursor (a learner killed after publishing,
        before acknowledging) are acknowledged here and not returned, so none is learned
        twice. What is returned stays unacknowledged until `acknowledge` covers it."""
        ...

    def acknowledge(self, cursor: Sequence[int]) -> int:
        """Mark every delivered event at or below `cursor` as accounted for (it is not handed
        out again); returns how many were marked (0 where progress is the cursor alone)."""
        ...


class PartitionTrim(NamedTuple):
    """What trimming did to one partition of the log."""

    partition: int
    trimmed: int
    """Events removed."""
    kept_from: int | None
    """The seq trimming stopped below (None: the partition is empty now)."""
    limit: str
    """The bound that stopped it, in words."""


class LogRetention(Protocol):
    """Trimming the event log behind its consumers (an operator's decision, never implicit)."""

    def trim_log(self, older_than: float, group: str = LEARN_GROUP) -> list[PartitionTrim]:
        """Remove, per partition, the oldest events while every one removed is older than
        `older_than` (epoch seconds, by event time), acknowledged by the learning `group`,
        and folded into the states' snapshot position. Raises `StorageError` on a store whose
        log cannot be trimmed safely."""
        ...
