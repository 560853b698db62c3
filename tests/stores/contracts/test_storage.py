"""The `Storage` contract: what spans the ports (import, export, counts, erasure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attune.data import load
from attune.data.dataset import Dataset
from attune.data.events import EventTypes, ItemUpdate, UserUpdate
from attune.ports import Impression, Storage, StoreCounts
from tests.stores.conftest import Backend
from tests.stores.contracts.records import T0, event


def mini(recbole_dir: Path) -> Dataset:
    """tests/conftest.py's dataset plus user 3 and item 14, which have no attributes."""
    with (recbole_dir / "mini.inter").open("a") as f:
        f.write("3\t14\t5\t400\n")
    return load(recbole_dir)


def test_import_and_export_round_trip(storage: Storage, recbole_dir: Path) -> None:
    source = mini(recbole_dir)
    assert storage.import_dataset(source, progress=False) == 5
    back = storage.to_dataset()
    assert back.name == "mini" and back.has_timestamps
    assert back.users == source.users and back.items == source.items
    for col in ("users", "items", "timestamps", "event_types"):
        assert np.array_equal(getattr(back.interactions, col), getattr(source.interactions, col))
    assert np.allclose(back.interactions.values, source.interactions.values)
    assert back.event_types == source.event_types == storage.event_types()
    assert back.item_titles == source.item_titles
    row = back.item_attributes.row(back.items.index("12"))
    assert sorted(back.item_attributes.tokens.decode(row)) == [
        "class=Horror",
        "class=Sci-Fi",
        "release_year=1979",
    ]
    assert back.item_attributes.fields == source.item_attributes.fields
    assert back.user_attributes.fields == source.user_attributes.fields
    user = back.user_attributes.row(back.users.index("2"))
    assert sorted(back.user_attributes.tokens.decode(user)) == sorted(
        source.user_attributes.tokens.decode(source.user_attributes.row(source.users.index("2")))
    )
    assert storage.counts() == StoreCounts(users=3, items=5, events=5)


def test_import_fills_the_catalogue_and_profiles(storage: Storage, recbole_dir: Path) -> None:
    storage.import_dataset(mini(recbole_dir), progress=False)
    assert storage.catalogue.item_attributes("12") == {
        "release_year": "1979",
        "class": ["Horror", "Sci-Fi"],
        "title": "Alien",
    }
    assert storage.catalogue.item_attributes("14") == {}  # a row without attributes
    assert [i for i, _ in storage.catalogue.all_item_attributes()] == [0, 1, 2, 3, 4]
    assert storage.profiles.user_attributes("1") == {
        "age_band": "18-24",
        "gender": "M",
        "occupation": "technician",
    }
    assert storage.profiles.user_attributes("3") == {}
    assert list(storage.catalogue.item_windows()) == []
    logged = list(storage.events.read_events())
    assert [e.seq for e in logged] == [1, 2, 3, 4, 5]
    assert [storage.users.external(e.user) for e in logged] == ["1", "2", "2", "1", "3"]


def test_export_without_events(storage: Storage, recbole_dir: Path) -> None:
    source = mini(recbole_dir)
    storage.import_dataset(source, progress=False)
    catalogue_only = storage.to_dataset(events=False)
    assert len(catalogue_only.interactions) == 0
    assert catalogue_only.items == source.items and catalogue_only.users == source.users
    assert catalogue_only.item_titles == source.item_titles


def test_export_of_live_writes(storage: Storage) -> None:
    storage.catalogue.upsert_items(
        [ItemUpdate(item_id="x", attributes={"title": "X", "tag": ["a", "b"]})]
    )
    storage.catalogue.upsert_items([ItemUpdate(item_id="x", attributes={"title": "X2"})])
    storage.events.append_events([event("u", "x", "click"), event("v", "y", ts=T0 + 1)])
    d = storage.to_dataset()
    assert d.item_titles == {0: "X2"} and list(d.items.ids) == ["x", "y"]
    assert d.interactions.users.tolist() == [0, 1]
    assert [d.event_types.names[t] for t in d.interactions.event_types] == ["click", "view"]
    assert storage.counts() == StoreCounts(users=2, items=2, events=2)


def test_counts_of_an_empty_storage(storage: Storage) -> None:
    assert storage.counts() == StoreCounts(users=0, items=0, events=0)
    assert storage.event_types() == EventTypes()


def test_erase_user_everywhere(storage: Storage) -> None:
    storage.events.append_events(
        [event("gone", "x", rid="R1"), event("kept", "x"), event("gone", "y")]
    )
    storage.profiles.upsert_users(
        [
            UserUpdate(user_id="gone", attributes={"city": "Atlantis"}),
            UserUpdate(user_id="kept", attributes={"city": "Utrecht"}),
        ]
    )
    gone, kept = storage.users.index("gone"), storage.users.index("kept")
    storage.impressions.write(
        [
            Impression("R1", gone, T0, 1, "model", (0,), ("similar",)),
            Impression("R2", kept, T0, 1, "model", (0,), ("similar",)),
        ],
        {},
    )
    assert _counts(storage.erase_user("gone")) == {"events": 2, "attributes": 1, "impressions": 1}
    assert "gone" not in storage.users and storage.users.external(gone) != "gone"
    assert [e.user for e in storage.events.read_events()] == [kept]
    assert storage.profiles.user_attributes("gone") is None
    assert [i for i, _ in storage.profiles.all_user_attributes()] == [kept]
    assert storage.impressions.get("R1") is None and storage.impressions.count() == 1
    assert storage.counts() == StoreCounts(users=2, items=2, events=1)
    assert gone not in storage.to_dataset().interactions.users.tolist()
    assert _counts(storage.erase_user("gone")) == {"events": 0, "attributes": 0, "impressions": 0}
    assert _counts(storage.erase_user("never-there")) == {
        "events": 0,
        "attributes": 0,
        "impressions": 0,
    }


def test_open_and_close(backend: Backend) -> None:
    with backend.open() as storage:
        assert "://" in storage.url and isinstance(storage.single_process, bool)
        storage.start_maintenance()
        storage.start_maintenance()  # a second start changes nothing
        storage.events.append_events([event("u", "x")])
        assert storage.events.count() == 1


def _counts(removed: dict[str, int]) -> dict[str, int]:
    """What an erasure removed, without SQLite's `files_cleared` (whether the WAL was emptied
    yet, a fact of that backend's files)."""
    return {k: v for k, v in removed.items() if k != "files_cleared"}
