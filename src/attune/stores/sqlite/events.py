"""The event log in the `events` table: append in one transaction, read in log order."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from attune.data.events import EventTypes, Interaction
from attune.ports import LoggedEvent, StorageError
from attune.stores.sqlite.database import Database

_COLUMNS = (
    " INTO events (seq, user_idx, item_idx, event_type, ts, value, recommendation_id, context, "
    "event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT = "INSERT" + _COLUMNS
_INSERT_NEW = "INSERT OR IGNORE" + _COLUMNS
"""Skips a row whose (user, event id) the log holds: the unique index `events_event_id`."""
_ERASED_SEQ_KEY = "erased_seq"
"""Meta key: the newest position of any erased event (0: none)."""


class SQLiteEventLog:
    """`EventLog` over one `Database`; grows its vocabularies in the same transaction."""

    def __init__(self, database: Database) -> None:
        self._d = database
        stored = self.stored_event_types()
        self._event_types = stored or EventTypes()
        self._event_types_stored = stored is not None
        self._erased_seq = int(self._d.get_meta(_ERASED_SEQ_KEY, "0") or 0)

    def stored_event_types(self) -> EventTypes | None:
        raw = self._d.get_meta("event_types")
        return EventTypes.model_validate_json(raw) if raw else None

    def event_types(self) -> EventTypes:
        """The stored event types, or the defaults before the first write."""
        return self.stored_event_types() or EventTypes()

    def ensure_event_types(self, event_types: EventTypes) -> None:
        """Record the event types of the first write; refuse different ones later."""
        if event_types is self._event_types and self._event_types_stored:
            return  # the hot path: the engine passes back the store's own object
        current = self._d.get_meta("event_types")
        self._event_types_stored = True
        if current is None:
            self._event_types = event_types
            self._d.set_meta("event_types", event_types.model_dump_json())
            self._d.db.executemany(
                "INSERT INTO event_types VALUES (?, ?)", list(enumerate(event_types.names))
            )
        elif EventTypes.model_validate_json(current) != event_types:
            raise StorageError(
                f"{self._d.path}: configured event types differ from the stored ones"
            )
        else:  # equal: the next call with this object (the engine's) takes the hot path
            self._event_types = event_types

    def append_events(
        self, events: Sequence[Interaction], event_types: EventTypes | None = None
    ) -> list[LoggedEvent]:
        """Append validated events in one transaction, growing the vocabularies; durable
        (per the database's durability) once this returns. Returns the events that were new:
        one whose event id its user already has is left out (see `EventLog`)."""
        et = event_types or self._event_types
        codes = [et.code(e.event_type) for e in events]
        d = self._d
        with d.transaction() as db:
            self.ensure_event_types(et)
            d.grow("users", (e.user_id for e in events))
            d.grow("items", (e.item_id for e in events))
            # The positions SQLite would give the rows one by one (MAX(seq) + 1, ...), set
            # explicitly so that the whole batch is one executemany. This process owns the
            # database (BEGIN IMMEDIATE holds the write lock): no one takes a position between.
            first = self.next_seq() - 1
            user_index, item_index = d.users.index, d.items.index
            out = [
                LoggedEvent(
                    first + n,
                    user_index(e.user_id),
                    item_index(e.item_id),
                    code,
                    e.timestamp.timestamp(),
                    math.nan if e.value is None else e.value,
                    e.recommendation_id,
                )
                for n, (e, code) in enumerate(zip(events, codes, strict=True), start=1)
            ]
            rows = [
                (*logged[:5], e.value, e.recommendation_id, _context(e), e.event_id)
                for logged, e in zip(out, events, strict=True)
            ]
            if any(e.event_id is not None for e in events):
                return _insert_new(db, out, rows, first)
            db.executemany(_INSERT, rows)
        return out

    def read_events(
        self, after: int = 0, *, user: int | None = None, chunk: int = 10_000
    ) -> Iterator[LoggedEvent]:
        """Logged events with seq > `after` in log order (optionally one user's only)."""
        last = after
        while True:
            where, params = "seq > ?", [last]
            if user is not None:
                where, params = "user_idx = ? AND seq > ?", [user, last]
            rows = self._d.db.execute(
                f"SELECT seq, user_idx, item_idx, event_type, ts, COALESCE(value, 'NaN'), "
                f"recommendation_id FROM events WHERE {where} ORDER BY seq LIMIT ?",
                (*params, chunk),
            ).fetchall()
            for s, u, i, t, ts, v, rid in rows:
                yield LoggedEvent(int(s), int(u), int(i), int(t), float(ts), float(v), rid)
            if len(rows) < chunk:
                return
            last = int(rows[-1][0])

    def event_columns(self) -> np.ndarray:
        rows = self._d.db.execute(
            "SELECT seq, user_idx, item_idx, event_type, ts, COALESCE(value, 'NaN') "
            "FROM events ORDER BY seq"
        ).fetchall()
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def last_seq(self) -> int:
        row = self._d.db.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def count(self) -> int:
        return int(self._d.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def next_seq(self) -> int:
        """The position the next appended event takes: past every event ever logged, erased
        ones included, so that no position is given twice (a snapshot or a trained model
        names the position it reflects)."""
        row = self._d.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return max(int(row[0]), self._erased_seq) + 1

    def erase_user(self, user: int) -> int:
        """Delete a user's events (inside the caller's transaction when there is one)."""
        db = self._d.db
        (newest,) = db.execute("SELECT MAX(seq) FROM events WHERE user_idx=?", (user,)).fetchone()
        if newest is not None and int(newest) > self._erased_seq:
            # Remembered only when the erased events were the newest: rare, and then the
            # log alone no longer knows how far it has counted.
            self._erased_seq = int(newest)
            self._d.set_meta(_ERASED_SEQ_KEY, str(newest))
        return int(db.execute("DELETE FROM events WHERE user_idx=?", (user,)).rowcount)


def _insert_new(
    db: sqlite3.Connection, out: list[LoggedEvent], rows: list[tuple[Any, ...]], first: int
) -> list[LoggedEvent]:
    """Insert the rows but those repeating a logged (user, event id), earlier ones of the
    batch included; returns the events that went in. Their positions are the batch's range
    of seq the log now holds (a range read on the primary key)."""
    if db.executemany(_INSERT_NEW, rows).rowcount == len(rows):
        return out
    kept = {
        int(s)
        for (s,) in db.execute(
            "SELECT seq FROM events WHERE seq > ? AND seq <= ?", (first, first + len(rows))
        )
    }
    return [logged for logged in out if logged.seq in kept]


def _context(e: Interaction) -> str | None:
    return json.dumps(e.context) if e.context else None
