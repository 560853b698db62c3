"""What only the embedded SQLite backend does: files, schema migrations, durability, WAL
upkeep, and erasure that leaves no trace on disk. The ports themselves are held to
`tests/stores/contracts/`."""

from __future__ import annotations

import os
import random
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from attune.data import load
from attune.data.events import UserUpdate
from attune.ports import Durability, Impression, KeyRecord, StorageError
from attune.stores import FileModelPointer, open_key_store, open_storage, storage_path
from attune.stores.sqlite import SQLiteStorage, scrub
from attune.stores.sqlite.migrations import MIGRATIONS
from attune.stores.sqlite.scrub import owe_rebuild, rebuild, rebuild_owed
from tests.stores.contracts.records import T0, event


def key(key_id: str) -> KeyRecord:
    return KeyRecord(id=key_id, name=key_id, scopes=("read",), sha256="0" * 64, created="now")


def test_urls_choose_the_backend(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/a.db"  # sqlite:///abs/path
    assert url.startswith("sqlite:///") and storage_path(url) == tmp_path / "a.db"
    assert storage_path("sqlite://rel/a.db") == Path("rel/a.db")
    assert storage_path(tmp_path / "a.db") == tmp_path / "a.db"
    assert storage_path("memory://") is None
    with open_storage(url) as storage:
        assert isinstance(storage, SQLiteStorage) and storage.path == tmp_path / "a.db"
        assert storage.url == url and storage.single_process
    with open_storage(tmp_path / "a.db") as storage:
        assert storage.url == url  # the URL opens the same file again
    with pytest.raises(StorageError, match="unknown storage scheme 'postgres'"):
        open_storage("postgres://localhost/0")


def test_reopen_keeps_everything(recbole_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with SQLiteStorage(path) as storage:
        storage.import_dataset(load(recbole_dir), progress=False)
        storage.events.append_events([event("new", "13", "click", rid="R1")])
        storage.impressions.write([Impression("R1", None, T0, 2, "model", (3,), ("a",))], {})
        storage.impressions.save_definition({"click_types": ["click"]})
        storage.states.put(1, b"state")
        storage.states.save_snapshot(5)
        event_types = storage.event_types()
    with SQLiteStorage(path) as storage:
        assert storage.database.schema_version == len(MIGRATIONS)
        assert storage.database.get_meta("name") == "mini"
        assert storage.counts().events == 5 and storage.events.last_seq() == 5
        assert list(storage.users.ids) == ["1", "2", "new"]
        assert storage.items.index("13") == 3 and storage.event_types() == event_types
        assert storage.impressions.get("R1") == Impression("R1", None, T0, 2, "model", (3,), ("a",))
        assert storage.impressions.definition() == {"click_types": ["click"]}
        assert storage.states.load_snapshot() == 5 and storage.states.get(1) == b"state"
        assert storage.events.append_events([event("1", "10")])[0][:3] == (6, 0, 0)


def test_an_old_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO users VALUES (0, 'u', NULL)")
    db.execute("INSERT INTO items (idx, ext_id) VALUES (0, 'x')")
    db.execute("INSERT INTO events (user_idx, item_idx, event_type, ts) VALUES (0, 0, 0, 1.0)")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with SQLiteStorage(path) as storage:
        assert storage.database.schema_version == len(MIGRATIONS)
        assert storage.users.index("u") == 0 and storage.counts().events == 1
        assert storage.impressions.count() == 0  # the table a later step added
        assert list(storage.catalogue.item_windows()) == []  # `blocked`, added later


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    SQLiteStorage(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer than this Attune"):
        SQLiteStorage(path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        open_storage(path)


@pytest.mark.parametrize(("durability", "synchronous"), [("full", 2), ("normal", 1)])
def test_durability_sets_how_commits_reach_the_disk(
    tmp_path: Path, durability: str, synchronous: int
) -> None:
    with open_storage(tmp_path / "a.db", durability=Durability(durability)) as storage:
        assert isinstance(storage, SQLiteStorage)
        db = storage.database.db
        assert db.execute("PRAGMA synchronous").fetchone()[0] == synchronous
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_background_checkpoints_move_the_log_and_lose_nothing(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "s.db", durability=Durability.NORMAL)
    storage.start_maintenance(interval_s=0.02)
    checkpointer = storage._checkpointer
    assert checkpointer is not None and checkpointer.is_alive()
    logged = []
    for b in range(20):
        logged += storage.events.append_events([event(f"u{i}", f"i{b}") for i in range(200)])
        time.sleep(0.005)
    deadline = time.time() + 10
    while checkpointer.checkpoints == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert checkpointer.checkpoints > 0
    assert [e.seq for e in logged] == list(range(1, 4001))
    storage.close()
    assert not checkpointer.is_alive()
    with SQLiteStorage(tmp_path / "s.db") as again:
        assert [e.seq for e in again.events.read_events()] == list(range(1, 4001))
        assert again.events.last_seq() == 4000


def test_an_erased_user_leaves_no_bytes_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with SQLiteStorage(path) as storage:
        storage.events.append_events([event("secret-person", "i", rid="secret-rec")])
        storage.profiles.upsert_users(
            [UserUpdate(user_id="secret-person", attributes={"city": "Atlantis"})]
        )
        person = storage.users.index("secret-person")
        storage.impressions.write(
            [Impression("secret-list", person, T0, 1, "model", (0,), ("a",))], {}
        )
        storage.events.append_events([event("other", "i")])
        storage.erase_user("secret-person")
        files = sorted(f.name for f in tmp_path.iterdir())
        assert "a.db-wal" in files  # the log is there, and emptied
        for f in tmp_path.iterdir():
            data = f.read_bytes()
            for secret in (b"secret-person", b"Atlantis", b"secret-rec", b"secret-list"):
                assert secret not in data, (f.name, secret)
    with SQLiteStorage(path) as storage:  # erasure is durable and the id is gone
        assert "secret-person" not in storage.users
        assert storage.counts().events == 1


def _files_holding(folder: Path, secret: bytes) -> list[str]:
    return sorted(f.name for f in folder.iterdir() if secret in f.read_bytes())


def test_an_erasure_leaves_the_wal_once_a_reader_holding_it_lets_go(tmp_path: Path) -> None:
    """A second connection in a read transaction keeps its snapshot from before the erasure
    readable, so the erased rows stay on disk (in the WAL, and the database file's old pages)
    while it reads; they are gone within a bounded time of its end, and the erasure neither
    waited for the reader nor claimed the files were clean."""
    path = tmp_path / "a.db"
    with SQLiteStorage(path) as storage:
        storage.events.append_events([event("wal-secret-person", "i") for _ in range(3)])
        storage.profiles.upsert_users(
            [UserUpdate(user_id="wal-secret-person", attributes={"city": "Lemuria"})]
        )
        storage.database.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in the main file
        storage.events.append_events([event("wal-secret-person", "j"), event("other", "i")])
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 5
        start = time.perf_counter()
        removed = storage.erase_user("wal-secret-person")
        assert time.perf_counter() - start < 2.0  # not waiting out the reader
        assert removed["events"] == 4 and removed["files_cleared"] == 0
        assert storage.scrubber.pending
        for secret in (b"wal-secret-person", b"Lemuria"):  # the reader can still read it
            assert _files_holding(tmp_path, secret), secret
        storage.events.append_events([event("other", "k")])  # the writer goes on meanwhile
        reader.execute("COMMIT")
        reader.close()
        assert storage.scrubber.wait(timeout=5.0)
        for secret in (b"wal-secret-person", b"Lemuria"):
            assert _files_holding(tmp_path, secret) == [], secret
        assert storage.counts().events == 2
        assert storage.erase_user("other")["files_cleared"] == 1  # no reader: at once


def test_a_wal_left_behind_is_cleared_at_the_next_open(tmp_path: Path) -> None:
    """Closed while a reader still held an erasure up (or killed), the store leaves the WAL
    with erased data in it; opening the database again empties it once readers allow."""
    path = tmp_path / "a.db"
    reader = sqlite3.connect(path, isolation_level=None)
    with SQLiteStorage(path) as storage:
        storage.events.append_events([event("left-secret", "i"), event("other", "i")])
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM events").fetchone()
        assert storage.erase_user("left-secret")["files_cleared"] == 0
    assert _files_holding(tmp_path, b"left-secret")  # nobody is retrying any more
    reader.execute("COMMIT")
    with SQLiteStorage(path) as storage:
        assert storage.scrubber.wait(timeout=5.0)
        assert _files_holding(tmp_path, b"left-secret") == []
        assert storage.counts().events == 1
    reader.close()


def _many_users(storage: SQLiteStorage, n: int = 3000) -> list[str]:
    """`n` users with random ids, one event each, in batches: enough index-page splits."""
    rng = random.Random(0)
    users = [f"person-{rng.randrange(10**9):09d}" for _ in range(n)]
    for k in range(0, n, 25):
        storage.events.append_events([event(u, "i") for u in users[k : k + 25]])
    return users


def _left_in_files(folder: Path, ids: list[str]) -> list[str]:
    data = b"".join(f.read_bytes() for f in folder.iterdir() if f.is_file())
    return [u for u in ids if u.encode() in data]


def test_erased_ids_leave_no_copy_in_pages_rebuilt_before(tmp_path: Path) -> None:
    """`secure_delete` zeroes the cells it deletes, but a page rebuilt earlier by a split
    keeps stale copies of moved cells in its unallocated middle (the crash benchmark found
    erased ids there). The rebuild an erasure owes removes them; erasures close together
    share one rebuild, deferred when maintenance runs."""
    path = tmp_path / "a.db"
    with SQLiteStorage(path, erasure_rebuild_s=0.2) as storage:
        storage.start_maintenance()
        users = _many_users(storage)
        gone = users[::7]
        assert all(storage.erase_user(u)["files_cleared"] == 0 for u in gone)
        assert storage.scrubber.pending
        assert storage.scrubber.wait(timeout=10.0)
        assert _left_in_files(tmp_path, gone) == []
        assert storage.counts().events == len(users) - len(gone)


def test_a_rebuild_owed_when_the_process_stopped_is_done_at_the_next_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.db"
    with SQLiteStorage(path, erasure_rebuild_s=3600.0) as storage:
        storage.start_maintenance()
        gone = _many_users(storage)[::7]
        for user in gone:
            storage.erase_user(user)
        assert storage.scrubber.pending
    with sqlite3.connect(path) as db:  # the debt is in the database
        assert rebuild_owed(db)
    with SQLiteStorage(path):  # a process that only reads leaves it to a server
        pass
    with sqlite3.connect(path) as db:
        assert rebuild_owed(db)
    with SQLiteStorage(path) as storage:
        storage.start_maintenance()
        assert storage.scrubber.wait(timeout=10.0)
        assert _left_in_files(tmp_path, gone) == []
    with sqlite3.connect(path) as db:
        assert not rebuild_owed(db)


def test_a_failing_rebuild_backs_off_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild failing for another reason than a busy database (a full disk) is retried
    after a growing pause, not every 50 ms; the erasure stays owed."""
    calls: list[float] = []

    def failing(path: Path, wait_s: float) -> bool:
        calls.append(time.monotonic())
        raise scrub.RebuildError("database or disk is full")

    monkeypatch.setattr(scrub, "rebuild", failing)
    monkeypatch.setattr(scrub, "FAILED_RETRY_S", (0.2, 10.0))
    with SQLiteStorage(tmp_path / "a.db") as storage:
        storage.events.append_events([event("full-disk-person", "i")])
        assert storage.erase_user("full-disk-person")["files_cleared"] == 0
        time.sleep(1.0)
        assert storage.scrubber.pending
    assert 2 <= len(calls) <= 4, calls  # at once, then after 0.2, 0.4 s (0.8 s is past)
    assert calls[2] - calls[1] > calls[1] - calls[0] - 0.05 if len(calls) > 2 else True


def test_a_rebuild_that_ends_late_never_hides_a_later_erasure(tmp_path: Path) -> None:
    """Two rebuilds may overlap (a server's thread and a CLI erasure): what each covers is
    what it read before it began, so one ending late cannot mark a later erasure done."""
    path = tmp_path / "a.db"
    with SQLiteStorage(path) as storage:
        db = storage.database.db
        owe_rebuild(db)  # erasure 1
        assert rebuild(path, 1.0)  # covers it
        owe_rebuild(db)  # erasure 2
        assert rebuild_owed(db)
        assert rebuild(path, 1.0) and not rebuild_owed(db)
        owe_rebuild(db)  # erasure 3, then a rebuild that read 2 records late
        db.execute(
            "INSERT INTO meta VALUES ('erasures_scrubbed', '2') ON CONFLICT(key) DO UPDATE "
            "SET value=MAX(CAST(value AS INTEGER), 2)"
        )
        assert rebuild_owed(db)


def test_positions_of_erased_events_are_not_given_again_after_reopening(
    recbole_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "a.db"
    with SQLiteStorage(path) as storage:
        storage.events.append_events([event("kept", "x"), event("gone", "x")])
        storage.erase_user("gone")
    with SQLiteStorage(path) as storage:
        assert storage.events.last_seq() == 1
        assert storage.events.append_events([event("kept", "y")])[0].seq == 3
        storage.erase_user("kept")
        storage.import_dataset(load(recbole_dir), progress=False)  # a bulk load too
        assert [e.seq for e in storage.events.read_events()] == [4, 5, 6, 7]


def test_the_state_snapshot_is_a_file_beside_the_database(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with SQLiteStorage(path) as storage:
        storage.states.put(0, b"x")
        storage.states.save_snapshot(9)
    assert (tmp_path / "a.db.state").is_file()
    assert not (tmp_path / "a.db.state.tmp").exists()
    with SQLiteStorage(path) as storage:
        assert len(storage.states) == 0  # read when the engine asks, not at open
        assert storage.states.load_snapshot() == 9 and storage.states.get(0) == b"x"


def test_a_garbage_snapshot_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.db.state").write_bytes(b"garbage")
    with (
        SQLiteStorage(tmp_path / "a.db") as storage,
        pytest.raises(ValueError, match="not an Attune state snapshot"),
    ):
        storage.states.load_snapshot()


def test_keys_live_in_a_private_file_beside_the_database(tmp_path: Path) -> None:
    with SQLiteStorage(tmp_path / "a.db") as storage:
        storage.keys.add(key("k1"))
    keys_file = tmp_path / "a.db.keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert b"k1" in keys_file.read_bytes()
    assert [k.id for k in open_key_store(tmp_path / "a.db").load()] == ["k1"]
    elsewhere = tmp_path / "conf" / "keys.json"
    with SQLiteStorage(tmp_path / "a.db", keys=elsewhere) as storage:
        assert list(storage.keys.load()) == []
        storage.keys.add(key("k2"))
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600
    assert [k.id for k in open_key_store("memory://", elsewhere).load()] == ["k2"]
    with pytest.raises(StorageError, match="read through the open storage"):
        open_key_store("memory://")


def test_the_keys_file_stays_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with SQLiteStorage(tmp_path / "a.db") as storage:
            storage.keys.add(key("k1"))
            storage.keys.remove("k1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.db.keys.json").stat().st_mode) == 0o600


def test_the_model_pointer_is_the_registry_file(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    with SQLiteStorage(tmp_path / "a.db") as storage:
        pointer = storage.model_pointer(root)
        assert isinstance(pointer, FileModelPointer) and not pointer.exists()
        with pytest.raises(StorageError, match="unreadable"):
            pointer.current()
        pointer.create()
        pointer.set_current(2)
    assert FileModelPointer(root).history() == [2]
    (root / "registry.json").write_text('{"format": 1, "current": "two"}')
    with pytest.raises(StorageError, match="unreadable"):
        FileModelPointer(root).current()
