"""Idempotent appends by event id, per user, on every storage backend."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attune.data.events import Interaction
from attune.data.importers.builder import DatasetBuilder
from attune.ports import Storage
from attune.stores import open_storage
from attune.stores.sqlite.migrations import MIGRATIONS
from tests.stores.redis_server import REDIS_KINDS, fresh_redis_url

T = datetime(2026, 1, 1, tzinfo=UTC)


def ev(user: str, item: str, event_id: str | None = None) -> Interaction:
    return Interaction(user_id=user, item_id=item, timestamp=T, event_id=event_id)


@pytest.fixture(params=["sqlite", "memory", *REDIS_KINDS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param in REDIS_KINDS:
        url = fresh_redis_url(request, request.param)
    else:
        url = str(tmp_path / "s.db") if request.param == "sqlite" else "memory://"
    with open_storage(url) as s:
        yield s


def _logged(store: Storage) -> list[tuple[int, str, str]]:
    users, items = store.users, store.items
    return [
        (e.seq, users.external(e.user), items.external(e.item)) for e in store.events.read_events()
    ]


def test_a_repeated_event_id_is_not_logged_again(store: Storage) -> None:
    first = store.events.append_events([ev("a", "i1", "e1")])
    assert len(first) == 1
    assert store.events.append_events([ev("a", "i1", "e1")]) == []
    assert store.events.count() == 1
    assert _logged(store) == [(first[0].seq, "a", "i1")]


def test_a_batch_keeps_the_first_of_its_repeats_and_every_event_without_id(
    store: Storage,
) -> None:
    store.events.append_events([ev("a", "i0", "old")])
    batch = [
        ev("a", "i1", "e1"),
        ev("b", "i2", "e2"),
        ev("a", "i3", "e1"),  # repeat inside the batch
        ev("c", "i4"),
        ev("a", "i5", "old"),  # repeat of an earlier append
        ev("c", "i4"),  # no id: always logged
        ev("b", "i6", "e3"),
    ]
    new = store.events.append_events(batch)
    items = [store.items.external(e.item) for e in new]
    assert items == ["i1", "i2", "i4", "i4", "i6"]
    # What came back is what the log holds, positions included.
    assert _logged(store)[1:] == [
        (e.seq, store.users.external(e.user), store.items.external(e.item)) for e in new
    ]
    assert [e.seq for e in new] == sorted({e.seq for e in new})
    assert store.events.count() == 6
    # The log goes on after the skipped positions.
    later = store.events.append_events([ev("d", "i7", "e1")])
    assert later[0].seq > new[-1].seq and store.events.count() == 7


def test_event_ids_are_scoped_per_user(store: Storage) -> None:
    new = store.events.append_events([ev("a", "i1", "same"), ev("b", "i1", "same")])
    assert len(new) == 2
    assert store.events.append_events([ev("b", "i2", "same")]) == []


def test_erasure_forgets_the_users_event_ids(store: Storage) -> None:
    store.events.append_events([ev("a", "i1", "e1"), ev("b", "i1", "e1")])
    store.erase_user("a")
    assert len(store.events.append_events([ev("a", "i1", "e1")])) == 1
    assert store.events.append_events([ev("b", "i1", "e1")]) == []


def _dataset(rows: list[tuple[str, str, float, str | None]]):  # type: ignore[no-untyped-def]
    b = DatasetBuilder("ids")
    for user, item, ts, event_id in rows:
        b.add(user, item, ts, event_id=event_id)
    return b.build()


def test_import_skips_event_ids_already_logged(store: Storage) -> None:
    rows = [("a", "i1", 1.0, "e1"), ("a", "i2", 2.0, "e2"), ("b", "i1", 3.0, "e1")]
    assert store.import_dataset(_dataset(rows), progress=False) == 3
    assert store.import_dataset(_dataset(rows), progress=False) == 0
    more = [*rows, ("a", "i3", 4.0, "e3"), ("a", "i3", 5.0, "e3"), ("c", "i1", 6.0, None)]
    assert store.import_dataset(_dataset(more), progress=False) == 2  # e3 once, and c's
    assert store.events.count() == 5
    # Imported ids and ingested ids are one set.
    assert store.events.append_events([ev("a", "i9", "e2")]) == []


def test_the_event_ids_survive_reopening(tmp_path: Path) -> None:
    with open_storage(tmp_path / "s.db") as store:
        store.events.append_events([ev("a", "i1", "e1")])
    with open_storage(tmp_path / "s.db") as store:
        assert store.events.append_events([ev("a", "i1", "e1"), ev("a", "i2", "e2")]) != []
        assert store.events.count() == 2
        assert store.events.append_events([ev("a", "i2", "e2")]) == []


def test_a_database_from_before_event_ids_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:3]:
        db.executescript(step)
    db.execute("PRAGMA user_version=3")
    db.execute("INSERT INTO users VALUES (0, 'a', NULL)")
    db.execute("INSERT INTO items (idx, ext_id) VALUES (0, 'i1')")
    db.execute("INSERT INTO events (user_idx, item_idx, event_type, ts) VALUES (0, 0, 0, 1.0)")
    db.close()
    with open_storage(path) as store:
        assert store.events.count() == 1
        assert len(store.events.append_events([ev("a", "i1", "e1")])) == 1
        assert store.events.append_events([ev("a", "i1", "e1")]) == []
        assert store.events.count() == 2
