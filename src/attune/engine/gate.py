"""Store writes made outside the engine's lock, kept apart from an erasure.

On a shared store an ingest appends to the log without holding the engine's lock (the
store's writes are atomic on their own, as another server's are). An erasure of the same
user must not interleave with such an append: the append resolved the user's index before
the erasure and would write the event under it afterwards, where no erasure looks again. So
appends share the gate and an erasure holds it alone: it waits for the appends in flight,
and new ones wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class AppendGate:
    """Appends share it, an erasure holds it alone; built on the engine's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._cond = threading.Condition(lock)
        self._appends = 0
        self._erasing = 0

    @contextmanager
    def append(self) -> Iterator[None]:
        """Around a store append made without the engine's lock (call it without the lock)."""
        with self._cond:
            while self._erasing:
                self._cond.wait()
            self._appends += 1
        try:
            yield
        finally:
            with self._cond:
                self._appends -= 1
                self._cond.notify_all()

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Around an erasure (the engine's lock held: waiting releases it meanwhile)."""
        with self._cond:
            self._erasing += 1
            try:
                while self._appends:
                    self._cond.wait()
                yield
            finally:
                self._erasing -= 1
                self._cond.notify_all()
