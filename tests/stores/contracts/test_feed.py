"""The `LearningFeed` contract: the learner takes every event its cursor does not cover, once
a cursor covers an event it is not taken again, and events a learner took but did not see
covered (it died) reach the next learner."""

from __future__ import annotations

from collections.abc import Sequence

from attune.ports import LEARN_GROUP, LoggedEvent, Storage
from tests.stores.contracts.records import T0, event


def _cursor(partitions: int, events: Sequence[LoggedEvent]) -> list[int]:
    """The cursor covering `events` (per partition, their highest seq)."""
    out = [0] * partitions
    for e in events:
        out[e.seq % partitions] = max(out[e.seq % partitions], e.seq)
    return out


def _log(storage: Storage, n: int, start: int = 0) -> list[LoggedEvent]:
    batch = [event(f"u{k % 5}", f"i{k % 3}", ts=T0 + k) for k in range(start, start + n)]
    return storage.events.append_events(batch)


def test_take_returns_every_event_after_the_cursor_in_seq_order(storage: Storage) -> None:
    feed = storage.learning_feed(LEARN_GROUP, "a")
    assert feed.take([0] * feed.partitions) == []
    logged = _log(storage, 8)
    heads = feed.heads()
    assert len(heads) == feed.partitions and max(heads) == storage.events.last_seq()
    taken = feed.take([0] * feed.partitions)
    assert [e[:5] for e in taken] == sorted(e[:5] for e in logged)  # (value: NaN)
    cursor = _cursor(feed.partitions, logged[:3])
    assert [e.seq for e in feed.take(cursor)] == sorted(e.seq for e in logged[3:])


def test_what_a_cursor_acknowledges_is_not_taken_again(storage: Storage) -> None:
    feed = storage.learning_feed(LEARN_GROUP, "a")
    logged = _log(storage, 6)
    assert len(feed.take([0] * feed.partitions)) == 6
    cursor = _cursor(feed.partitions, logged[:4])
    feed.acknowledge(cursor)
    later = _log(storage, 3, start=6)
    taken = feed.take(cursor)
    assert [e.seq for e in taken] == sorted(e.seq for e in logged[4:] + later)
    assert feed.take(_cursor(feed.partitions, logged + later)) == []


def test_a_learner_that_died_before_acknowledging_hands_its_events_on(storage: Storage) -> None:
    logged = _log(storage, 6)
    first = storage.learning_feed(LEARN_GROUP, "first")
    assert len(first.take([0] * first.partitions)) == 6  # ... and it dies here
    second = storage.learning_feed(LEARN_GROUP, "second", claim_idle_s=0.0)
    published = _cursor(second.partitions, logged[:2])  # a version it published covers these
    assert [e.seq for e in second.take(published)] == sorted(e.seq for e in logged[2:])
    assert [e.seq for e in second.take(published)] == sorted(e.seq for e in logged[2:])
