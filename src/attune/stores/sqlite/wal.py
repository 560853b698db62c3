"""Emptying the write-ahead log after an erasure, also while another connection reads.

An erasure commits new versions of the pages that held the user (zeroed by `secure_delete`)
to the WAL, but the old versions stay readable on disk until a checkpoint has copied the new
ones into the database file and the WAL is truncated: in the WAL's older frames, and in the
database file itself. `PRAGMA wal_checkpoint(TRUNCATE)` does both, but only once no reader
still holds a snapshot from before the erasure (another process's long read, a backup, a
training run). So the clearer tries once, briefly, and if a reader is in the way keeps
retrying from a thread of its own until the reader lets go.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from attune.log import get_logger

_log = get_logger(__name__)

FIRST_WAIT_S = 0.1
"""How long an erasure waits for readers before leaving the rest to the thread: it runs
under the engine's lock, so it must not wait long."""

RETRY_S = 0.05
"""Pause between the thread's attempts."""


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


class WalClearer:
    """Empties the WAL of one database now, or as soon as its readers allow."""

    def __init__(self, path: Path, retry_s: float = RETRY_S) -> None:
        self._path = path
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    @property
    def pending(self) -> bool:
        """Whether erased data may still be in the files (the retries are running)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def clear_now(self, wait_s: float = FIRST_WAIT_S) -> bool:
        """Try once; if a reader is in the way, retry in the background. True when the WAL
        was emptied (every erasure so far is then gone from the files)."""
        if truncate_wal(self._path, wait_s):
            return True
        self.clear_later()
        return False

    def clear_later(self) -> None:
        """Retry from a thread until the WAL is empty (or `stop`)."""
        with self._lock:
            if not self.pending:
                self._halt.clear()
                self._thread = threading.Thread(
                    target=self._retry, name="attune-wal-clear", daemon=True
                )
                self._thread.start()

    def _retry(self) -> None:
        started, attempts = time.monotonic(), 0
        while not self._halt.wait(self._retry_s):
            attempts += 1
            try:
                if truncate_wal(self._path, self._retry_s):
                    _log.info(
                        "write-ahead log cleared",
                        seconds=round(time.monotonic() - started, 3),
                        attempts=attempts,
                    )
                    return
            except sqlite3.Error as exc:  # a disk error, say: try again
                _log.warning("clearing the write-ahead log failed", error=str(exc))

    def wait(self, timeout: float) -> bool:
        """Wait until nothing is pending; True if so within `timeout` seconds."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.pending

    def stop(self) -> None:
        """Stop retrying (the store closes): what is pending stays in the files until the
        database is next opened, which clears it."""
        self._halt.set()
        thread = self._thread
        if thread is not None:
            thread.join()
