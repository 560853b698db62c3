"""Popularity counts that persist beside the user-state snapshot, so a restart counts only
the events logged after it instead of the whole log.

The counts are in-process (`DecayedPopularity`); a snapshot holds them with the log position
they reflect. Without a file (the in-memory backend) a snapshot is a copy kept in memory.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from attune.ranking.popularity import DecayedPopularity, PopularityConfig

_MAGIC = b"ATTUNE-POPULARITY-1\n"
_HEADER = struct.Struct("<qddq")
"""Log position, half-life in seconds, reference time, number of items."""


class SnapshotPopularity(DecayedPopularity):
    """`PopularityCounts` of one process, with a snapshot file (or an in-memory copy)."""

    def __init__(self, n_items: int, config: PopularityConfig, path: Path | None = None) -> None:
        super().__init__(n_items, config)
        self.path = path
        self._kept: tuple[int, float, np.ndarray] | None = None

    def save_snapshot(self, last_seq: int) -> None:
        t_ref, values = self.counts()
        if self.path is None:
            self._kept = (last_seq, t_ref, values)
            return
        header = _HEADER.pack(last_seq, self.config.half_life_seconds, t_ref, len(values))
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(_MAGIC + header + values.astype("<f8").tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)  # the old snapshot or the new one, never half of one

    def load_snapshot(self) -> int:
        """Counts as of the snapshot; its log position, or 0 (counts left empty) when there is
        none, it is unreadable, or it was taken with another half-life."""
        if self.path is None:
            if self._kept is None:
                return 0
            seq, t_ref, values = self._kept
            self.restore(t_ref, values)
            return seq
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        return self._parse(data)

    def _parse(self, data: bytes) -> int:
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _HEADER.size:
            return 0
        seq, half_life, t_ref, n = _HEADER.unpack_from(data, len(_MAGIC))
        body = data[len(_MAGIC) + _HEADER.size :]
        if half_life != self.config.half_life_seconds or len(body) != 8 * n:
            return 0
        self.restore(t_ref, np.frombuffer(body, "<f8"))
        return int(seq)

    def discard_snapshot(self) -> None:
        """Forget the snapshot: the next restore counts the whole log again."""
        self._kept = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
