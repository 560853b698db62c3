"""One process owns a database's user state: an exclusive lock file held while serving.

The engine keeps user state in memory and snapshots it next to the database; a second process
on the same database would compute its own state from the same log and the two would drift
apart, each overwriting the other's snapshot. `flock` is released by the kernel when the
process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DatabaseInUseError(RuntimeError):
    """Another live process holds the database's lock."""


class DatabaseLock:
    """Exclusive, non-blocking lock on `<db>.lock` beside the database's real file (symbolic
    links resolved, so every path to one database meets one lock); the holder's pid is
    written inside."""

    def __init__(self, db: Path | str) -> None:
        self.db = Path(db)
        self.path = Path(os.path.realpath(db) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseInUseError(
                f"{self.db} is already served by another Attune process (pid {holder}; lock "
                f"{self.path}). One process owns a database's user state: stop that one first, "
                "or serve a copy of the database."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        # The file stays: unlinking a lock file races with a process that has just opened it.
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def check(self) -> None:
        """Raise `DatabaseInUseError` if another process holds the lock now (takes nothing)."""
        self.acquire()
        self.release()

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
