"""The `EventLog` contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attune.data.events import EventTypes, EventTypeSpec
from attune.ports import EventLog, Storage, StorageError
from tests.stores.contracts.records import T0, event


def test_append_assigns_increasing_positions_and_grows_the_vocabularies(
    storage: Storage, log: EventLog
) -> None:
    first = log.append_events([event("a", "x"), event("b", "x", "click")])
    second = log.append_events([event("a", "y", "rating", value=4.5, rid="r1")])
    seqs = [e.seq for e in first + second]
    assert seqs == [1, 2, 3]
    assert list(storage.users.ids) == ["a", "b"] and list(storage.items.ids) == ["x", "y"]
    assert (first[0].user, first[1].user, second[0].user) == (0, 1, 0)
    assert (first[0].item, first[1].item, second[0].item) == (0, 0, 1)
    codes = storage.event_types().code
    assert [e.event_type for e in first + second] == [
        codes("view"),
        codes("click"),
        codes("rating"),
    ]
    assert math.isnan(first[0].value) and second[0].value == 4.5
    assert first[0].timestamp == T0 and second[0].recommendation_id == "r1"
    assert log.last_seq() == 3 and log.count() == 3


def test_what_append_returns_is_what_is_read_back(log: EventLog) -> None:
    logged = log.append_events(
        [event("a", "x", ts=T0 + 1.5, rid="r"), event("b", "y", "rating", value=2.0)]
    )
    back = list(log.read_events())
    assert [_comparable(e) for e in back] == [_comparable(e) for e in logged]


def test_a_bad_batch_is_rejected_whole(storage: Storage, log: EventLog) -> None:
    log.append_events([event("a", "x")])
    with pytest.raises(ValueError, match="unknown event type 'warp'"):
        log.append_events([event("new", "new-item"), event("a", "x", "warp")])
    assert "new" not in storage.users and "new-item" not in storage.items
    assert len(storage.users) == 1 and len(storage.items) == 1
    assert log.count() == 1 and log.last_seq() == 1
    # The next id takes the next index: the rejected batch reserved nothing.
    assert log.append_events([event("c", "z")])[0][:3] == (2, 1, 1)


def test_read_after_a_position_and_per_user(storage: Storage, log: EventLog) -> None:
    logged = log.append_events([event(f"u{i % 3}", f"i{i}") for i in range(10)])
    assert [e.seq for e in log.read_events()] == list(range(1, 11))
    assert [e.seq for e in log.read_events(after=4)] == list(range(5, 11))
    assert list(log.read_events(after=10)) == []
    u1 = storage.users.index("u1")
    assert [e.seq for e in log.read_events(user=u1)] == [e.seq for e in logged if e.user == u1]
    assert [e.seq for e in log.read_events(after=5, user=u1)] == [8]
    assert list(log.read_events(user=99)) == []


def test_an_empty_log(log: EventLog) -> None:
    assert log.last_seq() == 0 and log.count() == 0
    assert list(log.read_events()) == []
    assert log.event_columns().shape == (0, 6)


def test_event_columns_hold_the_log_in_order(storage: Storage, log: EventLog) -> None:
    log.append_events([event("a", "x", ts=T0 + 2), event("b", "y", "click", ts=T0 + 1)])
    log.append_events([event("a", "y", "rating", ts=T0 + 3, value=4.0)])
    cols = log.event_columns()
    assert cols.dtype == np.float64 and cols.shape == (3, 6)
    code = storage.event_types().code
    expected = np.array(
        [
            [1, 0, 0, code("view"), T0 + 2, np.nan],
            [2, 1, 1, code("click"), T0 + 1, np.nan],
            [3, 0, 1, code("rating"), T0 + 3, 4.0],
        ]
    )
    np.testing.assert_array_equal(cols, expected)  # NaN equals NaN here


def test_erase_removes_every_event_of_one_user(storage: Storage, log: EventLog) -> None:
    log.append_events([event("gone", "x"), event("kept", "x"), event("gone", "y")])
    gone = storage.users.index("gone")
    assert log.erase_user(gone) == 2
    assert [e.user for e in log.read_events()] == [storage.users.index("kept")]
    assert log.count() == 1 and log.event_columns().shape == (1, 6)
    assert list(log.read_events(user=gone)) == []
    assert log.erase_user(gone) == 0


def test_event_types_are_those_of_the_first_write(storage: Storage, log: EventLog) -> None:
    assert storage.event_types() == EventTypes()  # the defaults before any write
    custom = EventTypes(types={"open": EventTypeSpec(), "buy": EventTypeSpec(weight=4.0)})
    (logged,) = log.append_events([event("a", "x", "buy")], custom)
    assert logged.event_type == 1 and storage.event_types() == custom
    assert log.append_events([event("a", "x", "open")], custom)[0].event_type == 0
    with pytest.raises(StorageError, match="differ from the stored ones"):
        log.append_events([event("a", "x", "view")], EventTypes())
    assert log.count() == 2


def _comparable(e: object) -> tuple[object, ...]:
    """A logged event with NaN made comparable (NaN != NaN)."""
    assert isinstance(e, tuple)
    return tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in e)


def test_no_position_is_given_twice_even_after_erasing_the_newest_events(
    storage: Storage, log: EventLog
) -> None:
    """A state snapshot or a trained model names the position it reflects: a position given
    again would hide the new event behind it."""
    log.append_events([event("kept", "x"), event("gone", "x"), event("gone", "y")])
    storage.erase_user("gone")
    assert log.last_seq() == 1  # the newest event held
    (again,) = log.append_events([event("kept", "y")])
    assert again.seq == 4 and log.last_seq() == 4
    assert [e.seq for e in log.read_events()] == [1, 4]
