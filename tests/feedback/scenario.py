"""A small hand-checked feedback scenario: four served lists and the events that follow them.

`EXPECTED` was worked out by hand from the rules: clicks only on items in the list, by the
list's user, inside the attribution window, each list item once at most.
"""

from __future__ import annotations

from pathlib import Path

from attune.data.events import Interaction, ItemUpdate, UserUpdate
from attune.feedback import FeedbackConfig, FeedbackLog
from attune.ports import LoggedEvent, Storage
from attune.stores import open_storage

T = 1_700_000_000.0
DAY = 86400.0


def event(
    user: str,
    item: str,
    rid: str | None,
    kind: str = "click",
    *,
    after: float = 10.0,
    value: float | None = None,
) -> Interaction:
    return Interaction(
        user_id=user,
        item_id=item,
        event_type=kind,
        timestamp=T + after,
        value=value,
        recommendation_id=rid,
    )


def make_store(path: Path) -> Storage:
    store = open_storage(path)
    store.catalogue.upsert_items([ItemUpdate(item_id=f"i{j}") for j in range(7)])
    store.profiles.upsert_users([UserUpdate(user_id=u) for u in ("a", "b")])
    return store


def serve(log: FeedbackLog, store: Storage) -> None:
    """R1 and R4 for a (v1), R2 for b (v2), R3 for a user not known yet (v1)."""
    user, item = store.users.index, store.items.index

    def items(*ids: str) -> list[int]:
        return [item(i) for i in ids]

    shown = items("i0", "i1", "i2")
    log.record("R1", user("a"), T, 1, "model", shown, ["similar", "similar", "popular"])
    log.record("R2", user("b"), T, 2, "model", items("i3", "i4"), ["exploration", "similar"])
    log.record("R3", None, T, 1, "popularity", items("i5", "i0"), ["popular", "popular"])
    log.record("R4", user("a"), T, 1, "model", items("i6"), ["similar"])


EVENTS = [
    event("a", "i0", "R1"),  # click (1, similar)
    event("a", "i0", "R1"),  # the same item again: not counted twice
    event("a", "i1", "R1", "view"),  # a view counts as a click (1, similar)
    event("a", "i0", "R1", "purchase"),  # conversion (1, similar); already clicked
    event("a", "i3", "R1"),  # not in the list: unattributed
    event("b", "i1", "R1"),  # another user's list: unattributed
    event("a", "i0", "nope"),  # unknown list: unattributed
    event("a", "i2", "R1", "skip"),  # joined, but neither click nor conversion
    event("a", "i2", "R1", "rating", value=2.0),  # a low rating is no click
    event("a", "i2", "R1", "rating", value=5.0),  # a high one is (1, popular)
    event("b", "i4", "R2", "purchase"),  # click and conversion (2, similar)
    event("b", "i3", "R2", after=8 * DAY),  # after the 7-day window: unattributed
    event("c", "i5", "R3"),  # first event of the unknown user: the list becomes c's (1, popular)
    event("d", "i0", "R3"),  # now another user's list: unattributed
    event("a", "i1", None),  # names no list, but was shown to a in R1: untagged
    event("b", "i0", None),  # names no list, and was shown to b in none: not counted
    event("c", "i0", "R3", "purchase"),  # click and conversion (1, popular)
]


def _reason(
    version: int, reason: str, *, items: int, clicks: int, conversions: int, ctr: float
) -> dict[str, object]:
    return {
        "model_version": version,
        "reason": reason,
        "items": items,
        "clicks": clicks,
        "conversions": conversions,
        "ctr": ctr,
    }


EXPECTED = {
    "by_version": [
        {
            "model_version": 1,
            "lists": 3,
            "items": 6,
            "clicks": 5,
            "conversions": 2,
            "ctr": 5 / 6,
            "conversion_rate": 2 / 6,
        },
        {
            "model_version": 2,
            "lists": 1,
            "items": 2,
            "clicks": 1,
            "conversions": 1,
            "ctr": 1 / 2,
            "conversion_rate": 1 / 2,
        },
    ],
    "by_reason": [
        _reason(1, "popular", items=3, clicks=3, conversions=1, ctr=1.0),
        _reason(1, "similar", items=3, clicks=2, conversions=1, ctr=2 / 3),
        _reason(2, "exploration", items=1, clicks=0, conversions=0, ctr=0.0),
        _reason(2, "similar", items=1, clicks=1, conversions=1, ctr=1.0),
    ],
    "unattributed": 5,
    "untagged": 1,
}


def play(
    store: Storage, config: FeedbackConfig | None = None, *, one_by_one: bool = False
) -> FeedbackLog:
    """Serve the lists, log the events and join them; returns the feedback log."""
    log = FeedbackLog(store.impressions, store.event_types(), config or FeedbackConfig())
    serve(log, store)
    batches = [[e] for e in EVENTS] if one_by_one else [EVENTS]
    for batch in batches:
        logged: list[LoggedEvent] = store.events.append_events(batch)
        log.observe(logged)
    return log
