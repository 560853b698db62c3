"""In-process user-state store: packed bytes in a list indexed by internal user index.

A list (8 bytes a slot) rather than a dict keeps per-user overhead near the size of the
`bytes` object itself; users are dense indices, so there are few empty slots. The embedded
backend snapshots it to a file beside the database; without a file (the in-memory backend) a
snapshot is a copy kept in memory.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

_MAGIC = b"ATTUNE-STATE-1\n"


class MemoryUserStateStore:
    """The embedded default `UserStateStore`."""

    def __init__(self, snapshot: Path | None = None) -> None:
        self.snapshot_path = snapshot
        self._states: list[bytes | None] = []
        self._count = 0
        self._kept: tuple[int, list[bytes | None]] | None = None

    def get(self, user: int) -> bytes | None:
        return self._states[user] if 0 <= user < len(self._states) else None

    def put(self, user: int, state: bytes) -> None:
        if user >= len(self._states):
            self._states.extend([None] * (user + 1 - len(self._states)))
        if self._states[user] is None:
            self._count += 1
        self._states[user] = state

    def delete(self, user: int) -> bool:
        if self.get(user) is None:
            return False
        self._states[user] = None
        self._count -= 1
        return True

    def __len__(self) -> int:
        return self._count

    def users(self) -> Iterator[int]:
        return (u for u, s in enumerate(self._states) if s is not None)

    def nbytes(self) -> int:
        list_bytes = sys.getsizeof(self._states)
        return list_bytes + sum(sys.getsizeof(s) for s in self._states if s is not None)

    def save_snapshot(self, last_seq: int) -> None:
        if self.snapshot_path is None:
            self._kept = (last_seq, list(self._states))
            return
        path = self.snapshot_path
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(_MAGIC + struct.pack("<qq", last_seq, self._count))
            for user, state in enumerate(self._states):
                if state is not None:
                    f.write(struct.pack("<qI", user, len(state)))
                    f.write(state)
            f.flush()
            os.fsync(f.fileno())
        # rename is atomic: a crash leaves either the old snapshot or the new one, never half.
        os.replace(tmp, path)

    def load_snapshot(self) -> int:
        if self.snapshot_path is None:
            if self._kept is None:
                return 0  # as with no snapshot file: nothing to load, the states stay
            seq, states = self._kept
            self._states = list(states)
            self._count = sum(s is not None for s in states)
            return seq
        path = self.snapshot_path
        if not path.exists():
            return 0
        data = path.read_bytes()
        if not data.startswith(_MAGIC):
            raise ValueError(f"{path}: not an Attune state snapshot")
        off = len(_MAGIC)
        last_seq, count = struct.unpack_from("<qq", data, off)
        off += 16
        self._states, self._count = [], 0
        for _ in range(count):
            user, size = struct.unpack_from("<qI", data, off)
            off += 12
            self.put(user, data[off : off + size])
            off += size
        return int(last_seq)
