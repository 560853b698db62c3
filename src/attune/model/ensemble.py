"""An ensemble (`model.members` > 1): independently trained models that rank by the sum of
their scores.

Everything that reads an ensemble goes through this module: the members and their seeds
(`Ensemble`, `member_seed`), the one way their scores combine (`summed_scores`), used by
validation during training, evaluation, offline top-k and the fine-tuning check, and the form
that sum takes in a cosine index (`CosineJoin`), used by serving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, Protocol, Self, TypeVar

import numpy as np

MEMBER_SEED_STRIDE = 7919
"""Member k of an ensemble trains with `seed + k * MEMBER_SEED_STRIDE`: `train.seed` when
trained, the parent version's number in a fine-tuning round. Member 0 keeps the seed, so it is
exactly the model the same config with one member trains."""


def member_seed(seed: int, k: int) -> int:
    """The seed of member k of an ensemble whose base seed is `seed`."""
    return seed + k * MEMBER_SEED_STRIDE


class _Addable(Protocol):
    def __add__(self, other: Self, /) -> Self: ...


S = TypeVar("S", bound=_Addable)
M = TypeVar("M")
T = TypeVar("T")


def summed_scores(member_scores: Iterable[S]) -> S:
    """The ensemble's scores: its members' score arrays (numpy or torch, same shape) added up
    in member order; one member's scores come back as they are."""
    scores = iter(member_scores)
    try:
        total = next(scores)
    except StopIteration:
        raise ValueError("an ensemble needs at least one member") from None
    for more in scores:
        total = total + more
    return total


class Ensemble(Generic[M]):
    """The members of one model version, in member order (one member: a single model).

    Members are trained apart on the same data and item vocabulary, so any of them can be
    asked about the vocabulary or window length; they differ in their weights only.
    """

    def __init__(self, members: Iterable[M]) -> None:
        self.members: tuple[M, ...] = tuple(members)
        if not self.members:
            raise ValueError("an ensemble needs at least one member")

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[M]:
        return iter(self.members)

    def __getitem__(self, k: int) -> M:
        return self.members[k]

    @property
    def first(self) -> M:
        """Member 0 (for what all members share: vocabularies, window length)."""
        return self.members[0]

    def seeds(self, seed: int) -> list[int]:
        """Each member's seed (`member_seed`) from the base `seed`."""
        return [member_seed(seed, k) for k in range(len(self.members))]

    def map(self, convert: Callable[[M], T]) -> Ensemble[T]:
        """The same ensemble with every member converted (e.g. loaded models to encoders)."""
        return Ensemble(convert(m) for m in self.members)

    def score(self, member_scores: Callable[[M], S]) -> S:
        """The summed scores (`summed_scores`) of `member_scores` applied to each member."""
        return summed_scores(member_scores(m) for m in self.members)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class CosineJoin:
    """The summed scores in the form a cosine index serves: one vector per user or item.

    Each member scores cos(u_k, i_k) / T_k. A vector is the concatenation of the members' unit
    vectors, each weighted by sqrt(1 / T_k), scaled to length 1; the cosine of two such
    vectors is then the sum of the members' scores over a constant (sum of 1 / T_k), so it
    ranks items exactly as `summed_scores` does (tests/engine/test_ensemble.py,
    tests/bench_peers/test_ensemble_probe.py).
    """

    def __init__(self, inverse_temperatures: Sequence[float]) -> None:
        weights = np.array([float(t) ** 0.5 for t in inverse_temperatures])
        self.weights = weights / np.linalg.norm(weights)

    def __call__(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """The members' vectors (rows; member order) as one: unit rows, weighted, side by
        side."""
        weighted = [_unit_rows(p) * w for p, w in zip(parts, self.weights, strict=True)]
        return np.concatenate(weighted, axis=-1)


__all__ = ["MEMBER_SEED_STRIDE", "CosineJoin", "Ensemble", "member_seed", "summed_scores"]
