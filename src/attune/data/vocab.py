"""Stable mapping between external string ids and dense internal indices.

Internal indices are assigned in order of first appearance and never renumbered: new ids
are appended, so a model trained on version N of the vocabulary stays valid for version N+1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


class Vocabulary:
    """Append-only external id <-> internal index mapping."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self.extend(ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return external_id in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._ids == other._ids

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)})"

    @property
    def ids(self) -> Sequence[str]:
        """External ids in internal-index order (read-only view)."""
        return tuple(self._ids)

    def add(self, external_id: str) -> int:
        """Return the index of `external_id`, appending it if new."""
        idx = self._index.get(external_id)
        if idx is None:
            idx = len(self._ids)
            self._ids.append(external_id)
            self._index[external_id] = idx
        return idx

    def extend(self, external_ids: Iterable[str]) -> None:
        for external_id in external_ids:
            self.add(external_id)

    def truncate(self, size: int) -> None:
        """Forget every id appended after the first `size` (undo of a failed transaction)."""
        for external_id in self._ids[size:]:
            del self._index[external_id]
        del self._ids[size:]

    def rename(self, index: int, new_id: str) -> None:
        """Give an existing index a new external id (used to pseudonymise erased users)."""
        if new_id in self._index:
            raise ValueError(f"id {new_id!r} already exists")
        del self._index[self._ids[index]]
        self._ids[index] = new_id
        self._index[new_id] = index

    def index(self, external_id: str) -> int:
        """Index of a known id; raises KeyError naming the id otherwise."""
        try:
            return self._index[external_id]
        except KeyError:
            raise KeyError(f"unknown id {external_id!r}") from None

    def get(self, external_id: str, default: int = -1) -> int:
        return self._index.get(external_id, default)

    def external(self, index: int) -> str:
        return self._ids[index]

    def encode(self, external_ids: Iterable[str], grow: bool = True) -> np.ndarray:
        """Indices for many ids at once (int64); unknown ids are added or mapped to -1."""
        lookup = self.add if grow else self.get
        return np.fromiter((lookup(x) for x in external_ids), dtype=np.int64)

    def decode(self, indices: Iterable[int]) -> list[str]:
        return [self._ids[int(i)] for i in indices]

    def to_json(self) -> str:
        return json.dumps(self._ids)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        ids = json.loads(text)
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise ValueError("vocabulary JSON must be a list of strings")
        if len(set(ids)) != len(ids):
            raise ValueError("vocabulary JSON has duplicate ids")
        return cls(ids)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
