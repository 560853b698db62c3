"""Contracts every storage backend passes; a backend's test class inherits them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from attune.data.events import Interaction
from attune.stores.base import EventLog, UserStateStore


class UserStateStoreContract:
    @pytest.fixture
    def store(self) -> UserStateStore:
        raise NotImplementedError("a backend test class provides the store fixture")

    def test_get_put_delete(self, store: UserStateStore) -> None:
        assert store.get(3) is None
        store.put(3, b"abc")
        store.put(0, b"")
        assert store.get(3) == b"abc" and store.get(0) == b""
        assert len(store) == 2 and sorted(store.users()) == [0, 3]
        store.put(3, b"xyz")
        assert store.get(3) == b"xyz" and len(store) == 2
        assert store.delete(3) and not store.delete(3)
        assert store.get(3) is None and len(store) == 1

    def test_snapshot_round_trip(self, store: UserStateStore, tmp_path: Path) -> None:
        for user in range(50):
            store.put(user * 2, bytes([user]) * user)
        store.save_snapshot(tmp_path / "s.bin", last_seq=1234)
        store.put(1, b"after the snapshot")
        assert store.load_snapshot(tmp_path / "s.bin") == 1234
        assert store.get(1) is None
        assert all(store.get(u * 2) == bytes([u]) * u for u in range(50))
        assert len(store) == 50

    def test_bad_snapshot_is_refused(self, store: UserStateStore, tmp_path: Path) -> None:
        (tmp_path / "s.bin").write_bytes(b"garbage")
        with pytest.raises(ValueError, match="not an Attune state snapshot"):
            store.load_snapshot(tmp_path / "s.bin")

    def test_nbytes_grows_with_content(self, store: UserStateStore) -> None:
        empty = store.nbytes()
        store.put(0, b"x" * 1000)
        assert store.nbytes() >= empty + 1000


class EventLogContract:
    """What every `EventLog` backend does; a backend's test class provides `log`."""

    @pytest.fixture
    def log(self, tmp_path: Path) -> EventLog:
        raise NotImplementedError("a backend test class provides the log fixture")

    def test_append_assigns_increasing_positions_and_indices(self, log: EventLog) -> None:
        first = log.append_events(
            [
                Interaction(user_id="a", item_id="x"),
                Interaction(user_id="b", item_id="x", event_type="click"),
            ]
        )
        second = log.append_events([Interaction(user_id="a", item_id="y", value=4.5)])
        seqs = [e.seq for e in first + second]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert first[0].user == log.users.index("a") and first[1].user == log.users.index("b")
        assert first[0].item == first[1].item == log.items.index("x")
        assert second[0].value == 4.5 and math.isnan(first[0].value)
        assert log.last_seq() == seqs[-1]

    def test_read_in_log_order_after_a_position_and_per_user(self, log: EventLog) -> None:
        logged = log.append_events(
            [Interaction(user_id=f"u{i % 3}", item_id=f"i{i}") for i in range(10)]
        )
        assert [e.seq for e in log.read_events()] == [e.seq for e in logged]
        assert [e.seq for e in log.read_events(after=logged[4].seq)] == [e.seq for e in logged[5:]]
        u1 = log.users.index("u1")
        assert [e.item for e in log.read_events(user=u1)] == [
            e.item for e in logged if e.user == u1
        ]

    def test_a_bad_batch_is_rejected_whole(self, log: EventLog) -> None:
        log.append_events([Interaction(user_id="a", item_id="x")])
        with pytest.raises(ValueError, match="unknown event type"):
            log.append_events(
                [
                    Interaction(user_id="new", item_id="x"),
                    Interaction(user_id="a", item_id="x", event_type="warp"),
                ]
            )
        assert "new" not in log.users
        assert len(list(log.read_events())) == 1

    def test_erase_user_removes_events_and_id(self, log: EventLog) -> None:
        log.append_events(
            [Interaction(user_id="gone", item_id="x"), Interaction(user_id="kept", item_id="x")]
        )
        assert log.erase_user("gone")["events"] == 1
        assert "gone" not in log.users
        assert [log.users.external(e.user) for e in log.read_events()] == ["kept"]
        assert log.erase_user("never-there")["events"] == 0
