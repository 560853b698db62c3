"""The id vocabulary port: external string ids <-> dense internal indices.

Indices are append-only and never reused; one vocabulary is shared by every process of a
deployment, so a backend grows it atomically with the writes that introduce an id.
`attune.data.vocab.Vocabulary` is the in-process implementation every backend builds on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np


class IdVocabulary(Protocol):
    """Read side of one id space (users or items); growth goes through the storage's writes."""

    def __len__(self) -> int: ...

    @property
    def ids(self) -> Sequence[str]:
        """Every id, by index."""
        ...

    def __contains__(self, external_id: object) -> bool: ...

    def get(self, external_id: str, default: int = -1) -> int:
        """The index of an id, or `default` when unknown."""
        ...

    def index(self, external_id: str) -> int:
        """The index of a known id (`KeyError` otherwise)."""
        ...

    def external(self, index: int) -> str:
        """The id at an index."""
        ...

    def encode(self, external_ids: Iterable[str], grow: bool = True) -> np.ndarray: ...

    def decode(self, indices: Iterable[int]) -> list[str]: ...
