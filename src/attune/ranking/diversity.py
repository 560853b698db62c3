"""Diversity: maximal marginal relevance (MMR) re-ranking and a cap per attribute value.

Plain greedy reference implementation: each step scores every remaining candidate in one
vector operation, so k steps over a pool of P candidates cost O(k * P * D).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attune.ranking.catalogue import ItemCatalogue


class DiversityConfig(BaseModel):
    """How much a list trades relevance for variety."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    mmr_lambda: float = Field(0.0, ge=0.0, le=1.0)
    """MMR weight of dissimilarity: 0 = plain relevance order (off), 1 = only variety counts."""
    cap_field: str | None = None
    """Attribute field whose values are capped, e.g. "genre"; None = no cap."""
    cap_per_value: int = Field(3, ge=1)
    """At most this many items in one list may share a value of `cap_field`."""
    pool_factor: float = Field(3.0, ge=1.0)
    """Candidates retrieved per slot when MMR or a cap is on, so there are alternatives."""

    @property
    def active(self) -> bool:
        return self.mmr_lambda > 0 or self.cap_field is not None


def attribute_groups(
    catalogue: ItemCatalogue, items: np.ndarray, field_name: str
) -> list[np.ndarray]:
    """For each item, the token ids of its values of one field (empty when it has none)."""
    field_tokens = catalogue.field_token_ids(field_name)
    table = catalogue.attributes
    return [np.intersect1d(table.row(int(i)), field_tokens) for i in items]


def diversify(
    scores: np.ndarray,
    k: int,
    *,
    vectors: np.ndarray | None = None,
    mmr_lambda: float = 0.0,
    groups: list[np.ndarray] | None = None,
    cap: int | None = None,
    counts: Counter[int] | None = None,
) -> np.ndarray:
    """Greedy pick of up to k candidate positions, in list order.

    Each step takes the candidate maximising
    `(1 - mmr_lambda) * score - mmr_lambda * max cosine to the items already picked`
    (ties go to the earlier candidate), skipping any whose attribute value is already held
    by `cap` picked items. With `mmr_lambda == 0` and no cap this is plain score order.

    `vectors` are the candidates' L2-normalised vectors (needed when `mmr_lambda > 0`);
    `groups[i]` the capped-field values of candidate i; `counts` value -> items already in
    the list (updated in place), so a list built in parts honours one cap.
    """
    n = len(scores)
    if mmr_lambda > 0 and (vectors is None or len(vectors) != n):
        raise ValueError("MMR needs one vector per candidate")
    if cap is not None and (groups is None or len(groups) != n):
        raise ValueError("a cap needs the attribute values of every candidate")
    counts = Counter() if counts is None else counts
    rel = np.asarray(scores, np.float64)
    open_ = np.ones(n, dtype=bool)
    max_sim = np.zeros(n)
    picked: list[int] = []
    while len(picked) < k and open_.any():
        gain = (
            rel
            if (mmr_lambda == 0 or not picked)
            else (1 - mmr_lambda) * rel - mmr_lambda * max_sim
        )
        i = int(np.argmax(np.where(open_, gain, -np.inf)))
        open_[i] = False
        if (
            cap is not None
            and groups is not None
            and any(counts[g] >= cap for g in groups[i].tolist())
        ):
            continue
        picked.append(i)
        if groups is not None:
            counts.update(groups[i].tolist())
        if mmr_lambda > 0 and vectors is not None:
            max_sim = (
                np.maximum(max_sim, vectors @ vectors[i])
                if len(picked) > 1
                else vectors @ vectors[i]
            )
    return np.asarray(picked, dtype=np.int64)
