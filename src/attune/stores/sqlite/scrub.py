"""Removing erased data from the database's files, not only from its tables.

Deleting rows is not enough, for three reasons:

1. An erasure commits new versions of the pages that held the user to the write-ahead log;
   the old versions stay readable in the WAL's earlier frames and in the database file until
   a checkpoint has copied the new ones in and the WAL is truncated
   (`PRAGMA wal_checkpoint(TRUNCATE)`), which waits until no reader still holds a snapshot
   from before the erasure (another process's long read, a backup, a training run).
2. `secure_delete` zeroes the cells it deletes, but a page that was rebuilt earlier (a split,
   a defragmentation) can keep copies of moved cells in its unallocated middle, which SQLite
   never zeroes. The crash benchmark found user ids there after their erasure.
3. A process killed between the erasure and the cleanup leaves both behind.

So an erasure is followed by a rebuild of the whole file (`VACUUM`: every page written anew,
from live rows only) and a WAL truncation. A rebuild costs time in proportion to the
database (every writer waits for it), so a long-running server coalesces the erasures of
`delay_s` seconds into one rebuild, on a thread of its own; a process without that thread
(the CLI, tests) rebuilds inside the erasure. Two `meta` counters say whether a rebuild is
owed: `erasures` (raised by each erasure's transaction) and `erasures_scrubbed` (the value of
`erasures` a rebuild read before it began): owed while the first is ahead. So a process killed
first owes it at the next open of a server (a CLI process that only reads does not rebuild).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from attune.log import get_logger

_log = get_logger(__name__)

ERASURES, SCRUBBED = "erasures", "erasures_scrubbed"
"""`meta` keys: erasures so far, and how many of them the last rebuild covered."""

FIRST_WAIT_S = 0.1
"""How long a step inside an erasure waits for other connections before leaving the rest to
the thread: an erasure runs under the engine's lock, so it must not wait long."""

RETRY_S = 0.05
"""Pause between the thread's attempts."""

REBUILD_WAIT_S = 30.0
"""How long the thread's rebuild waits for the writer's lock."""

FAILED_RETRY_S = (1.0, 300.0)
"""After a rebuild failed for another reason than a busy database (a full disk: `VACUUM`
needs room for a copy), the first pause before trying again, doubling up to the second."""


def truncate_wal(path: Path, wait_s: float) -> bool:
    """One `wal_checkpoint(TRUNCATE)` on a connection of its own, waiting at most `wait_s`
    for readers and writers; True when every frame reached the database file and the WAL is
    empty."""
    db = sqlite3.connect(path, timeout=wait_s, isolation_level=None, check_same_thread=False)
    try:
        busy, frames, moved = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError:  # locked beyond wait_s
        return False
    finally:
        db.close()
    return int(busy) == 0 and (int(frames) <= 0 or int(frames) == int(moved))


class RebuildError(Exception):
    """A rebuild failed for another reason than another connection holding the database."""


def rebuild(path: Path, wait_s: float) -> bool:
    """`VACUUM` on a connection of its own, then record the erasures it covered; True when it
    ran, False when another connection held the write lock beyond `wait_s`
    (`RebuildError` for any other failure). The new pages are in the WAL until
    `truncate_wal` succeeds."""
    db = sqlite3.connect(path, timeout=wait_s, isolation_level=None, check_same_thread=False)
    try:
        covered = _counter(db, ERASURES)
        db.execute("VACUUM")
        # MAX: a rebuild that began earlier and ends later never lowers what is covered.
        db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value=MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (SCRUBBED, str(covered)),
        )
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return False
        raise RebuildError(str(exc)) from exc
    except sqlite3.Error as exc:
        raise RebuildError(str(exc)) from exc
    finally:
        db.close()
    return True


def _counter(db: sqlite3.Connection, key: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return 0 if row is None else int(row[0])


def owe_rebuild(db: sqlite3.Connection) -> None:
    """Record, inside the erasure's transaction, that a rebuild is owed."""
    db.execute(
        "INSERT INTO meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET "
        "value=CAST(value AS INTEGER)+1",
        (ERASURES,),
    )


def rebuild_owed(db: sqlite3.Connection) -> bool:
    return _counter(db, ERASURES) > _counter(db, SCRUBBED)


class Scrubber:
    """Rebuilds and truncates one database after erasures: at once, or `delay_s` after the
    first erasure not yet covered once `start` has made it a background job."""

    def __init__(self, path: Path, delay_s: float = 0.0, retry_s: float = RETRY_S) -> None:
        self._path = path
        self._delay_s = delay_s
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._rebuild_due: float | None = None  # monotonic time; None: no rebuild owed
        self._truncate = 0  # raised by each truncation owed; 0: none owed
        self._owed_at_open = False  # a rebuild owed by an earlier process, for `start`
        self._failures = 0  # rebuilds failed in a row (not for a busy database)
        self._background = False
        self._halt = False
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> bool:
        """Whether erased data may still be in the files (a rebuild or truncation is owed)."""
        with self._lock:
            return self._rebuild_due is not None or self._truncate > 0 or self._owed_at_open

    def start(self) -> None:
        """Do the work owed from now on in the background (a long-running server), the
        rebuild an earlier process owed included."""
        with self._lock:
            self._background = True
            owed, self._owed_at_open = self._owed_at_open, False
        if owed:
            self._owe(rebuild=True)

    def after_erasure(self) -> bool:
        """Called once an erasure has committed. True when the files no longer hold any
        erased data; False when that is left to the thread (the rebuild is deferred, or
        another connection was in the way)."""
        if self._background and self._delay_s > 0:
            truncate_wal(self._path, FIRST_WAIT_S)  # the WAL's old frames, at least
            self._owe(rebuild=True, after_s=self._delay_s)
            return False
        with self._lock:
            self._owed_at_open = False  # this rebuild covers it
        try:
            rebuilt = rebuild(self._path, FIRST_WAIT_S)
        except RebuildError as exc:  # the erasure itself has committed: retried later
            _log.warning("clearing erased data from the files failed", error=str(exc))
            self._failures += 1
            self._owe(rebuild=True, after_s=FAILED_RETRY_S[0])
            return False
        if rebuilt:
            if truncate_wal(self._path, FIRST_WAIT_S):
                return True
            self._owe(rebuild=False)
        else:
            self._owe(rebuild=True)
        return False

    def owed_at_open(self, rebuild_owed: bool, wal_bytes: int) -> None:
        """What a newly opened database owes: a rebuild a killed process did not run (left
        for `start`: a process that only reads does not rebuild), or a WAL left behind (by a
        crash, or a close while a reader held an erasure up), truncated now."""
        if rebuild_owed:
            with self._lock:
                self._owed_at_open = True
        if wal_bytes > 0:
            self._owe(rebuild=False)

    def _owe(self, *, rebuild: bool, after_s: float = 0.0) -> None:
        with self._lock:
            if rebuild and self._rebuild_due is None:
                self._rebuild_due = time.monotonic() + after_s
            self._truncate += 1
            if self._thread is None or not self._thread.is_alive():
                self._halt = False
                self._thread = threading.Thread(
                    target=self._run, name="attune-erasure-scrub", daemon=True
                )
                self._thread.start()
            self._wake.notify_all()

    def _next(self) -> tuple[bool, int] | None:
        """Wait until something is due; (whether to rebuild now, the truncation owed), or
        None when nothing is owed any more or the thread must stop (under the lock)."""
        while not self._halt and self._rebuild_due is not None:
            wait = self._rebuild_due - time.monotonic()
            if wait <= 0:
                break
            self._wake.wait(wait)
        if self._halt or not (self._rebuild_due is not None or self._truncate):
            self._thread = None
            return None
        due, self._rebuild_due = self._rebuild_due, None
        return due is not None, self._truncate

    def _run(self) -> None:
        started, attempts = time.monotonic(), 0
        while True:
            with self._lock:
                step = self._next()
            if step is None:
                return
            do_rebuild, owed = step
            attempts += 1
            try:
                if do_rebuild and not rebuild(self._path, REBUILD_WAIT_S):
                    self._owe(rebuild=True, after_s=self._retry_s)  # busy: soon
                    continue
                self._failures = 0
                if truncate_wal(self._path, self._retry_s):
                    with self._lock:  # a truncation owed since the attempt stays owed
                        if self._truncate == owed and self._rebuild_due is None:
                            self._truncate = 0
                        done = self._truncate == 0
                    if done:
                        _log.info(
                            "erased data cleared from the files",
                            seconds=round(time.monotonic() - started, 3),
                            attempts=attempts,
                        )
                    continue
            except (RebuildError, sqlite3.Error) as exc:  # a full disk, say
                self._failures += 1
                first, most = FAILED_RETRY_S
                pause = min(first * 2 ** (self._failures - 1), most)
                _log.warning(
                    "clearing erased data from the files failed",
                    error=str(exc),
                    retry_in_s=pause,
                )
                self._owe(rebuild=do_rebuild, after_s=pause)
                if do_rebuild:
                    continue
            with self._lock:
                if self._halt:
                    self._thread = None
                    return
                self._wake.wait(self._retry_s)

    def wait(self, timeout: float) -> bool:
        """Wait until nothing is pending; True if so within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.pending

    def stop(self) -> None:
        """Stop the thread (the store closes): what is owed stays owed, recorded in the
        database (a rebuild) or visible as a non-empty WAL (a truncation), and is done at the
        next open."""
        with self._lock:
            self._halt = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
