"""Where the learning loop is in the log: per-partition cursors and a round's event order.

A version's data window says which events it accounts for: per partition `p` of the log
(`seq % P`), every event with seq <= cursor[p]. Within a partition events commit in seq
order, so that is exact on a partitioned Redis log too, where a lower seq of one partition may
commit after a higher seq of another (a position over the whole log would miss it). A log of
one partition (SQLite, memory, Redis with `partitions=1`) keeps `cursor` None: `last_seq`.

The store's `LearningFeed` (on Redis, the consumer group) records what the learner has taken
and acknowledges what a current version covers. A round lays the log out as the events its
parent accounts for, in log order, then the newer ones, in log order: each user's events
stay in their order (a user's events share a partition), and the new events are the tail,
as the fine-tuning round expects.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import numpy as np

from attune.learning.heldout import EventArrays
from attune.learning.registry import DataWindow


def consumer_name() -> str:
    """This process's consumer name in the learning group (host and pid: one per process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def covered(window: DataWindow, partitions: int) -> list[int]:
    """The cursor of the events `window` accounts for."""
    if window.cursor is not None and len(window.cursor) == partitions:
        return list(window.cursor)
    return [window.last_seq] * partitions


def read_to(window: DataWindow, partitions: int) -> list[int]:
    """The cursor of the events the round that made `window` read (trained or checked on)."""
    if window.checked_cursor is not None and len(window.checked_cursor) == partitions:
        return list(window.checked_cursor)
    return [window.read_to_seq] * partitions


def advance(cursor: Sequence[int], seqs: np.ndarray) -> list[int]:
    """`cursor` moved past `seqs` in their partitions."""
    out = list(cursor)
    parts = seqs % len(out)
    for p in range(len(out)):
        mine = seqs[parts == p]
        if len(mine):
            out[p] = max(out[p], int(mine.max()))
    return out


def beyond(seqs: np.ndarray, cursor: Sequence[int]) -> np.ndarray:
    """Which of `seqs` lie past `cursor` in their partition."""
    bound = np.asarray(cursor, np.int64)
    return seqs > bound[seqs % len(bound)]


def arrange(log: EventArrays, cursor: Sequence[int]) -> tuple[EventArrays, int]:
    """The round's events: those `cursor` accounts for, then every later one of the log read;
    and where the new ones start.

    The log read decides what is new, not what the consumer group handed this learner: an
    event another consumer holds (a learner that died and whose entries are not idle long
    enough to claim yet) is in the log, so it is learned now; were it left out, the cursor
    would move past it and the group would later acknowledge it unlearned. The group only
    says what has been delivered and acknowledged (trimming stops there)."""
    old = ~beyond(log.seq, cursor)
    order = np.concatenate([np.flatnonzero(old), np.flatnonzero(~old)])
    return log.select(order), int(old.sum())


def window_cursors(
    parent: Sequence[int], events: EventArrays, start: int, boundary: int
) -> dict[str, tuple[int, ...] | None]:
    """The `cursor` and `checked_cursor` fields of a candidate's window (None on a log of one
    partition, where `last_seq` and `checked_last_seq` say it)."""
    if len(parent) == 1:
        return {"cursor": None, "checked_cursor": None}
    return {
        "cursor": tuple(advance(parent, events.seq[start:boundary])),
        "checked_cursor": tuple(advance(parent, events.seq[start:])),
    }
