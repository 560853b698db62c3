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
        """Persist every state and the log position it reflects, atomically. In a storage
        shared by several processes (`Storage.single_process` False) every `put` is durable
        already, and only the position is recorded."""
        ...

    def load_snapshot(self) -> int:
        """The last snapshot's log position (0: none). A single-process store replaces its
        contents with the snapshot; a shared one leaves the states as they are (a rollback
        would undo the other processes' writes). The states are never behind the position:
        folding the logged events after it again brings them up to date."""
        ...
