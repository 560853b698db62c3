"""The user-state port: packed per-user state (history window, V_u) by internal user index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class UserStateStore(Protocol):
    """Packed per-user state (bytes) by internal user index."""

    def get(self, user: int) -> bytes | None: ...

    def put(self, user: int, state: bytes) -> None: ...

    def delete(self, user: int) -> bool: ...

    def __len__(self) -> int: ...

    def users(self) -> Iterator[int]: ...

    def nbytes(self) -> int:
        """Memory held by the states (payload and per-entry overhead), in bytes."""
        ...

    def save_snapshot(self, last_seq: int) -> None:
        """Persist every state and the log position it reflects, atomically (a no-op for a
        backend whose every `put` is durable)."""
        ...

    def load_snapshot(self) -> int:
        """Replace the contents with the last snapshot; returns its log position (0: none)."""
        ...
