"""Validation of incoming events: each bad event is rejected with the field at fault, the
rest of the batch goes on."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from attune.data.events import EventTypes, Interaction


@dataclass(frozen=True)
class Rejection:
    """One event that was not accepted."""

    index: int
    """Position of the event in the submitted batch."""
    field: str
    """Name of the offending field (dotted for nested ones)."""
    message: str


@dataclass(frozen=True)
class IngestResult:
    """What `Engine.ingest` accepted and rejected."""

    accepted: int
    """Events logged and applied (new ones)."""
    rejected: list[Rejection]
    last_seq: int
    """Log position of the last accepted event (0 if none)."""
    duplicates: int = 0
    """Valid events acknowledged but not applied: their event id was already logged for their
    user (by an earlier call, or earlier in the batch)."""


def validate_events(
    events: Sequence[Interaction | Mapping[str, Any]],
    event_types: EventTypes,
    *,
    max_future_seconds: float,
    known_item: Any = None,
) -> tuple[list[tuple[int, Interaction]], list[Rejection]]:
    """Split a batch into (position, valid event) pairs and rejections.

    `known_item`, when given, is a predicate on item ids: events on other items are rejected.
    """
    ok: list[tuple[int, Interaction]] = []
    bad: list[Rejection] = []
    now = datetime.now(UTC).timestamp()
    names = set(event_types.names)
    for pos, raw in enumerate(events):
        try:
            event = raw if isinstance(raw, Interaction) else Interaction.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "event"
            bad.append(Rejection(pos, field, first["msg"]))
            continue
        if event.event_type not in names:
            bad.append(
                Rejection(
                    pos,
                    "event_type",
                    f"unknown event type {event.event_type!r}; "
                    f"known: {', '.join(event_types.names)}",
                )
            )
        elif event.timestamp.timestamp() > now + max_future_seconds:
            bad.append(
                Rejection(pos, "timestamp", f"more than {max_future_seconds:g} s in the future")
            )
        elif event.value is not None and not math.isfinite(event.value):
            bad.append(Rejection(pos, "value", "must be a finite number"))
        elif known_item is not None and not known_item(event.item_id):
            bad.append(Rejection(pos, "item_id", f"unknown item {event.item_id!r}"))
        else:
            ok.append((pos, event))
    return ok, bad
