"""The `UserStateStore` contract.

A snapshot is the log position the states reflect. A single-process storage keeps its states
in the process, so loading a snapshot puts back the states it saved; a storage shared by
several servers (`Storage.single_process` False) stores every `put` durably where all of them
read it, so a snapshot is the position alone and loading it leaves the states as they are:
rolling them back would undo what the other servers wrote since. Either way the states are
never behind the position, and the engine folds the events after it again (a state skips an
event it has folded).
"""

from __future__ import annotations

from attune.ports import Storage, UserStateStore


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


def test_snapshot_round_trip(storage: Storage, states: UserStateStore) -> None:
    for user in range(50):
        states.put(user * 2, bytes([user]) * user)
    states.save_snapshot(1234)
    states.put(1, b"after the snapshot")
    states.put(0, b"changed after the snapshot")
    states.delete(98)
    assert states.load_snapshot() == 1234
    if storage.single_process:  # the states at the snapshot, nothing written after it
        assert states.get(1) is None
        assert all(states.get(u * 2) == bytes([u]) * u for u in range(50))
        assert len(states) == 50 and sorted(states.users()) == [u * 2 for u in range(50)]
    else:  # shared: every write stays (a rollback would undo the other servers' writes)
        assert states.get(1) == b"after the snapshot"
        assert states.get(0) == b"changed after the snapshot" and states.get(98) is None
        assert all(states.get(u * 2) == bytes([u]) * u for u in range(1, 49))
        assert sorted(states.users()) == sorted([1, *(u * 2 for u in range(49))])
        assert len(states) == 50


def test_the_last_snapshot_wins(storage: Storage, states: UserStateStore) -> None:
    states.put(0, b"first")
    states.save_snapshot(1)
    states.put(0, b"second")
    states.save_snapshot(2)
    states.put(0, b"third")
    assert states.load_snapshot() == 2
    assert states.get(0) == (b"second" if storage.single_process else b"third")


def test_loading_without_a_snapshot_returns_position_zero(states: UserStateStore) -> None:
    assert states.load_snapshot() == 0
    assert len(states) == 0


def test_loading_without_a_snapshot_leaves_the_states_alone(states: UserStateStore) -> None:
    states.put(2, b"live")
    assert states.load_snapshot() == 0
    assert states.get(2) == b"live" and len(states) == 1
