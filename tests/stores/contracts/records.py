"""Records the contract suites write, with explicit times (seconds since the epoch)."""

from __future__ import annotations

from datetime import UTC, datetime

from attune.data.events import Interaction

T0 = 1_700_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def event(
    user: str,
    item: str,
    kind: str = "view",
    *,
    ts: float = T0,
    value: float | None = None,
    rid: str | None = None,
) -> Interaction:
    return Interaction(
        user_id=user,
        item_id=item,
        event_type=kind,
        timestamp=at(ts),
        value=value,
        recommendation_id=rid,
    )
