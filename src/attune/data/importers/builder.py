"""Accumulates validated rows into a `Dataset`; shared by every importer."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter, ValidationError

from attune.data.dataset import AttributeTable, Dataset, Interactions
from attune.data.events import MAX_ID_LENGTH, EventId, EventTypes
from attune.data.importers.errors import DataFormatError, ImportReport, OnError
from attune.data.vocab import Vocabulary


def parse_timestamp(raw: str) -> float:
    """Seconds since the epoch from a number or an ISO 8601 string (UTC when no zone)."""
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"bad timestamp {raw!r} (want seconds or ISO 8601)") from None
        if dt.tzinfo is None:
            return dt.replace(tzinfo=None).timestamp() - _local_offset(dt)
        return dt.timestamp()
    if not math.isfinite(value):
        raise ValueError(f"bad timestamp {raw!r}")
    return value


def _local_offset(dt: datetime) -> float:
    # datetime.timestamp() on a naive value assumes local time; undo that to read it as UTC.
    return dt.astimezone().utcoffset().total_seconds()  # type: ignore[union-attr]


def check_id(raw: str, what: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError(f"empty {what}")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{what} longer than {MAX_ID_LENGTH} characters")
    return value


_EVENT_ID: TypeAdapter[str] = TypeAdapter(EventId)


def check_event_id(raw: str, what: str) -> str:
    """An event id from a file, by the API's rule for `event_id`."""
    try:
        return _EVENT_ID.validate_python(raw)
    except ValidationError as exc:
        raise ValueError(f"{what}: {exc.errors()[0]['msg']}") from None


class DatasetBuilder:
    """Collects interactions and attributes, then freezes them into a `Dataset`."""

    def __init__(
        self,
        name: str,
        on_error: OnError = OnError.FAIL,
        event_types: EventTypes | None = None,
    ) -> None:
        self.name = name
        self.on_error = on_error
        self.event_types = event_types or EventTypes()
        self.report = ImportReport()
        self.users = Vocabulary()
        self.items = Vocabulary()
        self._u: list[int] = []
        self._i: list[int] = []
        self._t: list[float] = []
        self._e: list[int] = []
        self._v: list[float] = []
        self._ids: list[str | None] = []
        self._has_ids = False
        self._codes = {n: k for k, n in enumerate(self.event_types.names)}
        self.item_attrs: dict[int, list[str]] = {}
        self.user_attrs: dict[int, list[str]] = {}
        self.item_titles: dict[int, str] = {}
        self.has_timestamps = True

    def fail(self, path: Path, line: int, message: str) -> None:
        """Record (or raise, under `fail`) a malformed row."""
        self.report.reject(DataFormatError(path, line, message), self.on_error)

    def add(
        self,
        user: str,
        item: str,
        timestamp: float,
        event_type: str = "view",
        value: float = math.nan,
        event_id: str | None = None,
    ) -> None:
        """One interaction; `event_id` is the source's id for it, if it has one."""
        code = self._codes.get(event_type)
        if code is None:
            raise ValueError(f"unknown event type {event_type!r}")
        self._u.append(self.users.add(user))
        self._i.append(self.items.add(item))
        self._t.append(timestamp)
        self._e.append(code)
        self._v.append(value)
        self._ids.append(event_id)
        self._has_ids = self._has_ids or event_id is not None
        self.report.rows_accepted += 1

    def add_sequence(self, user: str, items: list[str], event_type: str = "view") -> None:
        """A time-ordered sequence with no timestamps: positions stand in for time."""
        for pos, item in enumerate(items):
            self.add(user, item, float(pos), event_type)

    def build(self) -> Dataset:
        interactions = Interactions.sorted_by_time(
            np.asarray(self._u, np.int64),
            np.asarray(self._i, np.int64),
            np.asarray(self._t, np.float64),
            np.asarray(self._e, np.int16),
            np.asarray(self._v, np.float32),
            np.asarray(self._ids, object) if self._has_ids else None,
        )
        return Dataset(
            name=self.name,
            interactions=interactions,
            users=self.users,
            items=self.items,
            event_types=self.event_types,
            item_attributes=_table(self.item_attrs, len(self.items)),
            user_attributes=_table(self.user_attrs, len(self.users)),
            item_titles=self.item_titles,
            has_timestamps=self.has_timestamps,
        )


def _table(rows: dict[int, list[str]], n: int) -> AttributeTable:
    if not rows:
        return AttributeTable.empty()
    # Field names in order of first appearance, from the `field=value` tokens themselves.
    fields = dict.fromkeys(t.partition("=")[0] for row in rows.values() for t in row)
    return AttributeTable.from_rows([rows.get(r, []) for r in range(n)], fields=tuple(fields))
