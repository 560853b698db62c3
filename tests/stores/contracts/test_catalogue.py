"""The `ItemCatalogue` contract."""

from __future__ import annotations

from attune.data.events import ItemUpdate
from attune.ports import ItemCatalogue, ItemWindow, Storage
from tests.stores.contracts.records import T0, at, event


def test_upsert_replaces_the_attributes(storage: Storage, catalogue: ItemCatalogue) -> None:
    catalogue.upsert_items([ItemUpdate(item_id="x", attributes={"title": "X", "tag": ["a", "b"]})])
    assert catalogue.item_attributes("x") == {"title": "X", "tag": ["a", "b"]}
    catalogue.upsert_items([ItemUpdate(item_id="x", attributes={"brand": "acme", "n": 3})])
    assert catalogue.item_attributes("x") == {"brand": "acme", "n": 3}
    catalogue.upsert_items([ItemUpdate(item_id="x")])
    assert catalogue.item_attributes("x") == {}
    assert list(storage.items.ids) == ["x"]


def test_unknown_items_and_items_without_attributes_have_none(
    storage: Storage, catalogue: ItemCatalogue
) -> None:
    storage.events.append_events([event("u", "from-an-event")])
    assert catalogue.item_attributes("from-an-event") is None
    assert catalogue.item_attributes("never-seen") is None
    assert list(catalogue.all_item_attributes()) == []


def test_all_item_attributes_by_index(storage: Storage, catalogue: ItemCatalogue) -> None:
    storage.events.append_events([event("u", "first"), event("u", "plain")])
    catalogue.upsert_items(
        [
            ItemUpdate(item_id="third", attributes={"c": "3"}),
            ItemUpdate(item_id="first", attributes={"a": "1"}),
        ]
    )
    catalogue.upsert_items([ItemUpdate(item_id="fourth", attributes={"title": "Four"})])
    assert list(catalogue.all_item_attributes()) == [
        (0, {"a": "1"}),
        (2, {"c": "3"}),
        (3, {"title": "Four"}),
    ]


def test_item_windows_of_items_that_set_one(storage: Storage, catalogue: ItemCatalogue) -> None:
    storage.events.append_events([event("u", "plain")])  # no window: not listed
    catalogue.upsert_items(
        [
            ItemUpdate(item_id="x", available_from=at(T0), created=at(T0 - 10)),
            ItemUpdate(item_id="y", available_until=at(T0 + 5), blocked=True, created=at(T0)),
        ]
    )
    assert sorted(catalogue.item_windows()) == [
        ItemWindow(1, T0, None, T0 - 10, False),
        ItemWindow(2, None, T0 + 5, T0, True),
    ]
    # A new upsert replaces availability and the block as a whole.
    catalogue.upsert_items([ItemUpdate(item_id="y", created=at(T0 + 1))])
    assert sorted(catalogue.item_windows())[1] == ItemWindow(2, None, None, T0 + 1, False)
