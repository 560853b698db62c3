"""Contract every `UserStateStore` backend passes; a backend's test class inherits it."""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.stores.base import UserStateStore


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
