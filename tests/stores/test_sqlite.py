import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from attune.data import load
from attune.data.events import Interaction, ItemUpdate, UserUpdate
from attune.stores import Durability, SQLiteStore, StoreError
from attune.stores.migrations import MIGRATIONS
from tests.stores.contract import EventLogContract


def test_import_round_trip(recbole_dir: Path, tmp_path: Path) -> None:
    source = load(recbole_dir)
    with SQLiteStore(tmp_path / "a.db") as store:
        store.import_dataset(source, progress=False)
        back = store.to_dataset()
        catalogue_only = store.to_dataset(events=False)
    assert len(catalogue_only.interactions) == 0
    assert catalogue_only.items == source.items and catalogue_only.item_titles == source.item_titles
    assert back.users == source.users and back.items == source.items
    for col in ("users", "items", "timestamps", "event_types"):
        assert np.array_equal(getattr(back.interactions, col), getattr(source.interactions, col))
    assert np.allclose(back.interactions.values, source.interactions.values)
    assert back.item_titles == source.item_titles
    row = back.item_attributes.row(back.items.index("12"))
    assert sorted(back.item_attributes.tokens.decode(row)) == [
        "class=Horror",
        "class=Sci-Fi",
        "release_year=1979",
    ]
    assert back.name == "mini"


def test_reopen_keeps_data_and_schema_version(recbole_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with SQLiteStore(path) as store:
        store.import_dataset(load(recbole_dir), progress=False)
        assert store.schema_version == len(MIGRATIONS)
    with SQLiteStore(path) as store:
        assert store.counts().events == 4
        assert store.get_meta("name") == "mini"


def test_append_events_grows_vocabulary_without_renumbering(
    recbole_dir: Path, tmp_path: Path
) -> None:
    with SQLiteStore(tmp_path / "a.db") as store:
        store.import_dataset(load(recbole_dir), progress=False)
        before = store.vocabulary("items")
        ts = datetime(2024, 1, 1, tzinfo=UTC)
        logged = store.append_events(
            [
                Interaction(
                    user_id="new-user", item_id="new-item", event_type="click", timestamp=ts
                ),
                Interaction(
                    user_id="1", item_id="10", event_type="rating", value=5.0, timestamp=ts
                ),
            ]
        )
        assert logged[1].seq == logged[0].seq + 1 == 6
        assert logged[1].user == store.users.index("1") and logged[1].value == 5.0
        assert logged[0].item == len(before)
        after = store.vocabulary("items")
        assert after.ids[: len(before)] == before.ids
        assert after.index("new-item") == len(before)
        d = store.to_dataset()
        assert d.event_types.names[d.interactions.event_types[-1]] == "rating"
        assert store.counts().events == 6


def test_append_is_all_or_nothing(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "a.db") as store:
        good = Interaction(user_id="u", item_id="i")
        with pytest.raises(ValueError, match="unknown event type 'teleport'"):
            store.append_events([good, good.model_copy(update={"event_type": "teleport"})])
        assert store.counts().events == 0


def test_upsert_items_and_users(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "a.db") as store:
        store.upsert_items([ItemUpdate(item_id="x", attributes={"title": "X", "tag": ["a", "b"]})])
        store.upsert_users([UserUpdate(user_id="u", attributes={"country": "NL"})])
        store.upsert_items([ItemUpdate(item_id="x", attributes={"title": "X2", "brand": "acme"})])
        assert store.item_attributes("x") == {"title": "X2", "brand": "acme"}
        assert store.user_attributes("u") == {"country": "NL"}
        d = store.to_dataset()
        assert d.item_titles == {0: "X2"}
        assert d.item_attributes.tokens.decode(d.item_attributes.row(0)) == ["brand=acme"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this Attune"):
        SQLiteStore(path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        SQLiteStore(path)


def test_read_events_and_erase_user(recbole_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with SQLiteStore(path) as store:
        store.import_dataset(load(recbole_dir), progress=False)
        user1 = store.users.index("1")
        assert [e.user for e in store.read_events()] == [user1, 1 - user1, 1 - user1, user1]
        assert len(list(store.read_events(after=2))) == 2
        assert all(e.user == user1 for e in store.read_events(user=user1))
        assert store.erase_user("1") == {"events": 2, "attributes": 1, "impressions": 0}
        assert "1" not in store.users
        assert store.erase_user("1") == {"events": 0, "attributes": 0, "impressions": 0}
    with SQLiteStore(path) as store:  # erasure is durable and the id is gone
        assert "1" not in store.users
        assert store.counts().events == 2
        assert store.user_attributes("1") is None
        dataset = store.to_dataset()
        assert user1 not in dataset.interactions.users.tolist()


def test_failed_transaction_rolls_back_vocabulary(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "a.db") as store:
        ok = Interaction(user_id="u", item_id="i")
        store.append_events([ok])
        with pytest.raises(ValueError):
            store.append_events(
                [
                    Interaction(user_id="v", item_id="j"),
                    ok.model_copy(update={"event_type": "teleport"}),
                ]
            )
        assert "v" not in store.users and "j" not in store.items
        assert store.append_events([Interaction(user_id="w", item_id="i")])[0].user == 1


def test_erased_user_leaves_no_bytes_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with SQLiteStore(path) as store:
        store.append_events(
            [Interaction(user_id="secret-person", item_id="i", recommendation_id="secret-rec")]
        )
        store.upsert_users([UserUpdate(user_id="secret-person", attributes={"city": "Atlantis"})])
        store.append_events([Interaction(user_id="other", item_id="i")])
        store.erase_user("secret-person")
        for f in tmp_path.iterdir():
            data = f.read_bytes()
            assert b"secret-person" not in data and b"Atlantis" not in data, f.name
            assert b"secret-rec" not in data, f.name


class TestSQLiteEventLog(EventLogContract):
    @pytest.fixture
    def log(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        with SQLiteStore(tmp_path / "log.db") as store:
            yield store


def test_background_checkpoints_move_the_log_and_lose_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", durability=Durability.NORMAL)
    store.checkpoint_in_background(interval_s=0.02)
    checkpointer = store._checkpointer
    assert checkpointer is not None
    logged = []
    for b in range(20):
        batch = [Interaction(user_id=f"u{i}", item_id=f"i{b}") for i in range(200)]
        logged += store.append_events(batch)
        time.sleep(0.005)
    deadline = time.time() + 10
    while checkpointer.checkpoints == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert checkpointer.checkpoints > 0
    assert [e.seq for e in logged] == list(range(1, 4001))
    store.close()
    assert not checkpointer.is_alive()
    with SQLiteStore(tmp_path / "s.db") as again:
        assert [e.seq for e in again.read_events()] == list(range(1, 4001))
        assert again.last_seq() == 4000
