"""The `UserStateStore` contract."""

from __future__ import annotations

from attune.ports import UserStateStore


def test_get_put_delete(states: UserStateStore) -> None:
    assert states.get(3) is None and len(states) == 0 and list(states.users()) == []
    states.put(3, b"abc")
    states.put(0, b"")
    assert states.get(3) == b"abc" and states.get(0) == b"" and states.get(1) is None
    assert len(states) == 2 and sorted(states.users()) == [0, 3]
    states.put(3, b"xyz")
    assert states.get(3) == b"xyz" and len(states) == 2
    assert states.delete(3) and not states.delete(3) and not states.delete(99)
    assert states.get(3) is None and len(states) == 1 and list(states.users()) == [0]


def test_nbytes_grows_with_content(states: UserStateStore) -> None:
    empty = states.nbytes()
    states.put(0, b"x" * 1000)
    assert states.nbytes() >= empty + 1000


def test_snapshot_round_trip(states: UserStateStore) -> None:
    for user in range(50):
        states.put(user * 2, bytes([user]) * user)
    states.save_snapshot(1234)
    states.put(1, b"after the snapshot")
    states.put(0, b"changed after the snapshot")
    states.delete(98)
    assert states.load_snapshot() == 1234
    assert states.get(1) is None
    assert all(states.get(u * 2) == bytes([u]) * u for u in range(50))
    assert len(states) == 50 and sorted(states.users()) == [u * 2 for u in range(50)]


def test_the_last_snapshot_wins(states: UserStateStore) -> None:
    states.put(0, b"first")
    states.save_snapshot(1)
    states.put(0, b"second")
    states.save_snapshot(2)
    states.put(0, b"third")
    assert states.load_snapshot() == 2 and states.get(0) == b"second"


def test_loading_without_a_snapshot_returns_position_zero(states: UserStateStore) -> None:
    assert states.load_snapshot() == 0
    assert len(states) == 0


def test_loading_without_a_snapshot_leaves_the_states_alone(states: UserStateStore) -> None:
    states.put(2, b"live")
    assert states.load_snapshot() == 0
    assert states.get(2) == b"live" and len(states) == 1
