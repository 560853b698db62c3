"""The `IdVocabulary` contract (`Storage.users`, `Storage.items`): ids grow through the
storage's writes, indices are append-only and never reused."""

from __future__ import annotations

import numpy as np
import pytest

from attune.data.events import ItemUpdate, UserUpdate
from attune.ports import Storage
from tests.stores.contracts.records import event


def test_lookups_of_known_and_unknown_ids(storage: Storage) -> None:
    storage.events.append_events([event("a", "x"), event("b", "y"), event("a", "z")])
    users, items = storage.users, storage.items
    assert len(users) == 2 and list(users.ids) == ["a", "b"]
    assert len(items) == 3 and list(items.ids) == ["x", "y", "z"]
    assert "b" in users and "nobody" not in users and 0 not in users
    assert users.get("b") == 1 and users.get("nobody") == -1 and users.get("nobody", 7) == 7
    assert items.index("z") == 2 and items.external(1) == "y"
    with pytest.raises(KeyError, match="nobody"):
        users.index("nobody")
    encoded = items.encode(["z", "nope", "x"], grow=False)
    assert encoded.dtype == np.int64 and encoded.tolist() == [2, -1, 0]
    assert "nope" not in items and len(items) == 3
    assert items.decode([2, 0]) == ["z", "x"] and items.decode(np.array([1])) == ["y"]


def test_every_write_appends_new_ids_and_keeps_old_indices(storage: Storage) -> None:
    storage.events.append_events([event("a", "x")])
    storage.catalogue.upsert_items([ItemUpdate(item_id="y"), ItemUpdate(item_id="x")])
    storage.profiles.upsert_users([UserUpdate(user_id="b"), UserUpdate(user_id="a")])
    storage.events.append_events([event("c", "z"), event("b", "x")])
    assert list(storage.users.ids) == ["a", "b", "c"]
    assert list(storage.items.ids) == ["x", "y", "z"]


def test_an_erased_id_becomes_a_tombstone_and_its_index_is_never_reused(
    storage: Storage,
) -> None:
    storage.events.append_events([event("a", "x"), event("gone", "x"), event("b", "x")])
    gone = storage.users.index("gone")
    storage.erase_user("gone")
    tombstone = storage.users.external(gone)
    assert tombstone != "gone" and "gone" not in tombstone
    assert "gone" not in storage.users and storage.users.get("gone") == -1
    assert storage.users.index(tombstone) == gone
    assert len(storage.users) == 3
    (again,) = storage.events.append_events([event("gone", "x")])
    assert again.user == 3 and storage.users.index("gone") == 3
