"""How one event is written in Redis: its payload (in the user's record and the feed) and its
entry in the user's state tail (`"<event key> <seq> <payload>"`, seq 0 until logged)."""

from __future__ import annotations

import json
import math
from typing import Any

from attune.ports import LoggedEvent


def payload(
    user: int,
    item: int,
    code: int,
    ts: float,
    value: float,
    rid: str | None,
    context: dict[str, Any],
) -> str:
    """The event as compact JSON: user, item, type code, time, value (null: none), recommendation
    id, context."""
    v = None if math.isnan(value) else value
    return json.dumps([user, item, code, ts, v, rid, context or None], separators=(",", ":"))


def logged(seq: int, data: bytes | str) -> LoggedEvent:
    """The `LoggedEvent` at `seq` of a payload."""
    u, i, t, ts, v, rid, _ = json.loads(data)
    return LoggedEvent(seq, u, i, t, ts, math.nan if v is None else v, rid)


def tail_entry(key: str, data: str) -> str:
    """A tail entry of an event not logged yet (seq 0; the commit script writes the seq in)."""
    return f"{key} 0 {data}"


def tail_key(entry: bytes) -> bytes:
    """The event key of a tail entry (what the compare-and-set script checks)."""
    return entry.split(b" ", 1)[0]


def tail_event(entry: bytes) -> LoggedEvent:
    """The event of a tail entry (seq 0 when it was not logged when read)."""
    _, seq, data = entry.split(b" ", 2)
    return logged(int(seq), data)
