"""The event log as a Python list; vocabularies grow with each append."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from attune.data.events import EventTypes, Interaction
from attune.data.vocab import Vocabulary
from attune.ports import LoggedEvent, StorageError


class MemoryEventLog:
    """`EventLog` in memory; the contexts are kept as JSON text, as a durable log would."""

    def __init__(self, users: Vocabulary, items: Vocabulary) -> None:
        self.users, self.items = users, items
        self.events: list[LoggedEvent] = []
        self.contexts: dict[int, str] = {}
        self.event_ids: dict[int, set[str]] = {}
        """Per user index, the event ids of their logged events."""
        self._types: EventTypes | None = None
        self._next = 1
        self.lock = threading.RLock()

    def event_types(self) -> EventTypes:
        return self._types or EventTypes()

    def ensure_event_types(self, event_types: EventTypes) -> None:
        if self._types is None:
            self._types = event_types
        elif event_types is not self._types and event_types != self._types:
            raise StorageError("memory://: configured event types differ from the stored ones")

    def append_events(
        self, events: Sequence[Interaction], event_types: EventTypes | None = None
    ) -> list[LoggedEvent]:
        """Append, leaving out each event whose id its user already has (see `EventLog`)."""
        et = event_types or self.event_types()
        codes = [et.code(e.event_type) for e in events]  # before any change: all or nothing
        with self.lock:
            self.ensure_event_types(et)
            out = []
            for e, code in zip(events, codes, strict=True):
                user = self.users.add(e.user_id)
                if e.event_id is not None and not self._claim(user, e.event_id):
                    continue
                logged = LoggedEvent(
                    self._next,
                    user,
                    self.items.add(e.item_id),
                    code,
                    e.timestamp.timestamp(),
                    math.nan if e.value is None else e.value,
                    e.recommendation_id,
                )
                if e.context:
                    self.contexts[logged.seq] = json.dumps(e.context)
                self._next += 1
                out.append(logged)
            self.events.extend(out)
        return out

    def append_rows(
        self,
        rows: list[tuple[int, int, int, float, float]],
        event_ids: Sequence[str | None] | None = None,
    ) -> int:
        """Bulk rows (user, item, event type, time, value) in internal indices (imports),
        with their event ids if they have them; returns how many were new."""
        ids = event_ids if event_ids is not None else [None] * len(rows)
        added = 0
        with self.lock:
            for (u, i, t, ts, v), event_id in zip(rows, ids, strict=True):
                if event_id is not None and not self._claim(u, event_id):
                    continue
                self.events.append(LoggedEvent(self._next, u, i, t, ts, v, None))
                self._next += 1
                added += 1
        return added

    def _claim(self, user: int, event_id: str) -> bool:
        """Record the user's event id; False if they already had it (the event is a repeat)."""
        seen = self.event_ids.setdefault(user, set())
        if event_id in seen:
            return False
        seen.add(event_id)
        return True

    def read_events(self, after: int = 0, *, user: int | None = None) -> Iterator[LoggedEvent]:
        with self.lock:
            snapshot = [e for e in self.events if e.seq > after]
        return iter([e for e in snapshot if user is None or e.user == user])

    def event_columns(self) -> np.ndarray:
        with self.lock:
            rows: list[Any] = [e[:6] for e in self.events]
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def last_seq(self) -> int:
        with self.lock:
            return self.events[-1].seq if self.events else 0

    def count(self) -> int:
        return len(self.events)

    def erase_user(self, user: int) -> int:
        with self.lock:
            doomed = [e.seq for e in self.events if e.user == user]
            self.events = [e for e in self.events if e.user != user]
            self.event_ids.pop(user, None)
            for seq in doomed:
                self.contexts.pop(seq, None)
        return len(doomed)
