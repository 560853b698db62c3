"""The embedded backend: one SQLite file (WAL) plus the files beside it.

    <db>            event log, vocabularies, catalogue, user attributes, impressions, metadata
    <db>.state      snapshot of the user states (the log position it reflects inside)
    <db>.popularity snapshot of the popularity counts (likewise)
    <db>.keys.json  API keys (hashes and scopes)

It needs no server and survives a killed process once a commit returns; one process owns it
(`single_process`), which is what lets it keep the vocabularies in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from attune.data.dataset import Dataset
from attune.data.events import EventTypes
from attune.ports import LEARN_GROUP, Durability, PartitionTrim, PopularityCounts, StoreCounts
from attune.ranking.popularity import PopularityConfig
from attune.stores.feed import PositionFeed, refuse_trim
from attune.stores.keyfile import FileKeyStore
from attune.stores.pointer import FileModelPointer
from attune.stores.popularity import SnapshotPopularity
from attune.stores.sqlite import dataset
from attune.stores.sqlite.catalogue import SQLiteCatalogue, SQLiteProfiles
from attune.stores.sqlite.database import Checkpointer, Database
from attune.stores.sqlite.events import SQLiteEventLog
from attune.stores.sqlite.impressions import SQLiteImpressions
from attune.stores.sqlite.rekey import rekey_users as rekey_sqlite
from attune.stores.sqlite.scrub import Scrubber, owe_rebuild, rebuild_owed
from attune.stores.state import MemoryUserStateStore

_FALLBACK_CHECKPOINT_PAGES = 25_000
"""With background checkpoints on, the writer still checkpoints itself past this many WAL
pages (about 100 MB), should the background thread fall behind."""


class SQLiteStorage:
    """Every port of the embedded backend over one database file."""

    single_process = True

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = Durability.FULL,
        keys: Path | None = None,
        erasure_rebuild_s: float = 0.0,
    ) -> None:
        self.path = Path(path)
        self.url = f"sqlite://{self.path}"  # sqlite:///abs/a.db or sqlite://rel/a.db
        wal_left = _wal_bytes(self.path)  # before this process writes to it
        self.database = Database(self.path, durability)
        self.users, self.items = self.database.users, self.database.items
        self.events = SQLiteEventLog(self.database)
        self.catalogue = SQLiteCatalogue(self.database)
        self.profiles = SQLiteProfiles(self.database)
        self.impressions = SQLiteImpressions(self.database)
        self.states = MemoryUserStateStore(Path(str(self.path) + ".state"))
        self.keys = FileKeyStore(keys or Path(str(self.path) + ".keys.json"))
        self._checkpointer: Checkpointer | None = None
        self.scrubber = Scrubber(self.path, erasure_rebuild_s)
        # A crash, or a close while a reader held an erasure up, may have left erased data in
        # the files: removed as soon as readers allow.
        self.scrubber.owed_at_open(rebuild_owed(self.database.db), wal_left)

    def event_types(self) -> EventTypes:
        return self.events.event_types()

    def import_dataset(self, data: Dataset, *, progress: bool = True) -> int:
        return dataset.import_dataset(self.database, self.events, data, progress=progress)

    def to_dataset(self, *, events: bool = True) -> Dataset:
        return dataset.to_dataset(self.database, self.events, with_events=events)

    def counts(self) -> StoreCounts:
        one = self.database.db.execute
        return StoreCounts(
            users=int(one("SELECT COUNT(*) FROM users").fetchone()[0]),
            items=int(one("SELECT COUNT(*) FROM items").fetchone()[0]),
            events=self.events.count(),
        )

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Delete a user's events, impressions and attributes; the id becomes a tombstone.

        The internal index stays allocated (indices are never reused), but nothing links it
        to the person any more. `files_cleared` is 1 when the erased data is gone from the
        files too (the database rebuilt and the WAL emptied, see `scrub`), 0 while that is
        still to come: the rebuild is deferred (`erasure_rebuild_s`, once maintenance runs)
        or a reader's older snapshot is in the way; `scrubber.pending` says which.
        """
        idx = self.users.get(user_id)
        if idx < 0:
            return {"events": 0, "attributes": 0, "impressions": 0, "files_cleared": 1}
        tombstone = f"\x00erased:{idx}"
        with self.database.transaction() as db:
            n_events = self.events.erase_user(idx)
            n_shown = self.impressions.erase_user(idx)
            n_attrs = self.profiles.erase_user_attributes(idx)
            db.execute("UPDATE users SET ext_id=? WHERE idx=?", (tombstone, idx))
            owe_rebuild(db)
        self.users.rename(idx, tombstone)
        cleared = self.scrubber.after_erasure()
        return {
            "events": n_events,
            "attributes": n_attrs,
            "impressions": n_shown,
            "files_cleared": int(cleared),
        }

    def rekey_users(self, rotation: str, rekey: Callable[[str], str]) -> int:
        """`Storage.rekey_users`: one transaction; the old ids are then cleared from the
        files as erased data is (`files_cleared` of an erasure, see `scrub`)."""
        renamed = rekey_sqlite(self.database, rotation, rekey)
        if renamed:
            self.scrubber.after_erasure()
        return renamed

    def popularity(
        self, n_items: int, half_life_seconds: float, head_size: int
    ) -> PopularityCounts:
        config = PopularityConfig(half_life_seconds=half_life_seconds, head_size=head_size)
        return SnapshotPopularity(n_items, config, Path(str(self.path) + ".popularity"))

    def model_pointer(self, registry: Path) -> FileModelPointer:
        return FileModelPointer(registry)

    def start_maintenance(self, interval_s: float = 1.0) -> None:
        """Move the write-ahead log into the database from a thread of its own, instead of in
        the commit that happens to cross SQLite's threshold, which would otherwise carry the
        copy. A passive checkpoint on a second connection never blocks the writer. Erasures'
        rebuilds move to a thread of their own too, `erasure_rebuild_s` after the first."""
        if self._checkpointer is not None:
            return
        self.database.db.execute(f"PRAGMA wal_autocheckpoint={_FALLBACK_CHECKPOINT_PAGES}")
        self.scrubber.start()
        self._checkpointer = Checkpointer(self.path, interval_s)
        self._checkpointer.start()

    def learning_feed(
        self, group: str = LEARN_GROUP, consumer: str = "learner", claim_idle_s: float = 60.0
    ) -> PositionFeed:
        """Position based: one writer logs seqs in commit order."""
        return PositionFeed(self.events)

    def trim_log(self, older_than: float, group: str = LEARN_GROUP) -> list[PartitionTrim]:
        return refuse_trim("SQLite")

    def close(self) -> None:
        self.scrubber.stop()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.database.close()

    def __enter__(self) -> SQLiteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wal_bytes(path: Path) -> int:
    try:
        return Path(str(path) + "-wal").stat().st_size
    except FileNotFoundError:
        return 0
