"""The user-state port: packed per-user state (history window, V_u) by internal user index."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from attune.ports.events import LoggedEvent


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


class StateRead(NamedTuple):
    """One user's state as a shared store holds it: the packed state and the acknowledged
    events not folded into it yet."""

    packed: bytes | None
    tail: list[LoggedEvent]
    """In the order they were acknowledged; seq 0 for one not in the log yet."""
    token: bytes
    """What `SharedUserStates.write` checks: the last tail entry read (empty: none)."""


@runtime_checkable
class SharedUserStates(Protocol):
    """User states that several processes fold into at once (a store that is not
    `single_process`): appending an event puts it in its user's tail in the same atomic unit,
    and a fold is written back only if nobody else folded meanwhile (compare-and-set)."""

    def read(self, users: Sequence[int]) -> dict[int, StateRead]:
        """Each user's packed state and tail, each read atomically."""
        ...

    def write(self, writes: Sequence[tuple[int, StateRead, bytes]]) -> list[bool]:
        """For each (user, what was read, new packed state): store the state and drop the
        tail entries that were read, unless the state or the tail's front changed since the
        read (False: read again and fold again)."""
        ...

    def unfolded_users(self) -> Iterator[int]:
        """Users whose tail holds events (imports wait there until a server folds them)."""
        ...
