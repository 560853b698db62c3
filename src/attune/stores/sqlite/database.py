"""One SQLite connection in WAL mode: schema migrations, transactions, metadata, vocabularies.

The vocabularies are read once at open and kept in step with every write of this process
(one process owns an embedded database); a failed transaction truncates them back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from attune.data.vocab import Vocabulary
from attune.log import get_logger
from attune.ports import Durability, StorageError
from attune.stores.sqlite.migrations import MIGRATIONS

_log = get_logger(__name__)

_CACHE_KIB = 65_536
"""Page cache of the connection (64 MiB; SQLite's default is 2 MiB). Events of random users
touch random pages of the per-user index; with the small default each batch re-reads them."""

_BUSY_WAIT_S = 60.0
"""How long a write waits for another connection's write lock: an erasure's rebuild of the
database (`scrub`) holds it for about a second per million events."""


class Database:
    """The connection, its transactions and the two vocabularies they keep in step."""

    def __init__(self, path: Path, durability: Durability) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(
                path, timeout=_BUSY_WAIT_S, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{path}: not a usable SQLite database ({exc})") from None
        self.db.execute(f"PRAGMA synchronous={durability.value.upper()}")
        self.db.execute("PRAGMA foreign_keys=ON")
        # Erased rows are overwritten with zeros, not left readable in free pages.
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self.users, self.items = Vocabulary(), Vocabulary()
        self._migrate()
        self.users.extend(self._ids("users"))
        self.items.extend(self._ids("items"))

    def _ids(self, table: str) -> list[str]:
        return [r[0] for r in self.db.execute(f"SELECT ext_id FROM {table} ORDER BY idx")]

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StorageError(
                f"{self.path}: schema version {version} is newer than this Attune "
                f"({len(MIGRATIONS)}); upgrade Attune to open it"
            )
        for step in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={step + 1}")
            _log.info("migrated store", path=str(self.path), version=step + 1)

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: everything inside commits together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        sizes = (len(self.users), len(self.items))
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            self.users.truncate(sizes[0])
            self.items.truncate(sizes[1])
            raise
        self.db.execute("COMMIT")

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def grow(self, table: str, external_ids: Iterable[str]) -> None:
        """Append ids unknown to the store, keeping every existing index (in a transaction)."""
        vocab = self.users if table == "users" else self.items
        start = len(vocab)
        vocab.extend(external_ids)
        new = [(i, vocab.external(i)) for i in range(start, len(vocab))]
        if new:
            self.db.executemany(f"INSERT INTO {table} (idx, ext_id) VALUES (?, ?)", new)

    def close(self) -> None:
        self.db.close()


class Checkpointer(threading.Thread):
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval_s` on its own connection, so the
    writer rarely checkpoints inside a request."""

    def __init__(self, path: Path, interval_s: float) -> None:
        super().__init__(name="attune-wal-checkpoint", daemon=True)
        self._path = path
        self._interval = interval_s
        self._halt = threading.Event()
        self.checkpoints = 0
        """Checkpoints run so far (tests)."""

    def run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while not self._halt.wait(self._interval):
                try:
                    # (busy, WAL pages, pages moved): nothing to do when the log is empty.
                    busy, pages, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += int(pages > 0 and not busy)
                except sqlite3.Error as exc:  # retried at the next interval
                    _log.warning("background checkpoint failed", error=str(exc))
        finally:
            db.close()

    def stop(self) -> None:
        self._halt.set()
        self.join()
