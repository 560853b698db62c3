"""Diversity: maximal marginal relevance (MMR) re-ranking and a cap per attribute value.

Plain greedy reference implementation: each step scores every remaining candidate in one
vector operation, so k steps over a pool of P candidates cost O(k * P * D).

MMR spreads a list over the embedding, which need not follow the catalogue's categories: two
far-apart vectors can be two dramas. So the diversity also caps how many items of a list may
share a value of the category field: none up to `SPREAD_FROM`, then tighter up to an even
spread at 1 (`list_cap`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attune.ranking.catalogue import ItemCatalogue


class DiversityConfig(BaseModel):
    """How much a list trades relevance for variety."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    mmr_lambda: float = Field(0.0, ge=0.0, le=1.0)
    """MMR weight of dissimilarity: 0 = plain relevance order (off), 1 = only variety counts.
    Above `SPREAD_FROM` it also caps the items per value of the category field (`cap_field`,
    else the first of `CATEGORY_FIELDS` the catalogue has): at 1, k=10 over 4 or more values
    with eligible items holds at most 3 of any one."""
    cap_field: str | None = None
    """Attribute field whose values are capped, e.g. "genre"; None = no cap (but see
    `mmr_lambda`)."""
    cap_per_value: int = Field(3, ge=1)
    """At most this many items in one list may share a value of `cap_field`."""
    pool_factor: float = Field(3.0, ge=1.0)
    """Candidates retrieved per slot when MMR or a cap is on, so there are alternatives."""

    @property
    def active(self) -> bool:
        return self.mmr_lambda > 0 or self.cap_field is not None


SPREAD_FROM = 0.75
"""Diversity from which a list is also spread over the category field's values (the top
quarter of the scale); up to it, MMR alone, which keeps a list among the most relevant items
(a cap may have to look past them)."""
CATEGORY_FIELDS = ("category", "categories", "genre", "genres", "class", "department", "section")
"""Attribute fields a diversity above 0 spreads a list over when `cap_field` is unset; the
first the catalogue has is used."""


@dataclass(frozen=True)
class ValueCap:
    """At most `per_value` items of one list may share a value of `field`."""

    field: str
    per_value: int
    soft: bool = False
    """Set by the diversity's spread: when it leaves a list short of k although the pool has
    run dry, the list is completed under `relaxed` instead (a configured cap is hard)."""
    relaxed: ValueCap | None = None
    """The configured cap alone, or None."""


def spread_cap(k: int, mmr_lambda: float, per_value: np.ndarray, unvalued: int) -> int:
    """The most items of a k-list that may share one value at diversity `mmr_lambda`: k up to
    `SPREAD_FROM`, down to an even share over the values that have eligible items at 1 (k=10
    over 4: 3), linear between; raised until the eligible items can fill k (`per_value[v]`
    eligible items hold value v, `unvalued` hold none)."""
    values = int((per_value > 0).sum())
    if values <= 1:
        return k
    even = k / values
    spread = max(0.0, (mmr_lambda - SPREAD_FROM) / (1.0 - SPREAD_FROM))
    cap = max(1, math.ceil(even + (1.0 - spread) * (k - even) - 1e-9))
    while cap < k and int(np.minimum(per_value, cap).sum()) + unvalued < k:
        cap += 1
    return min(cap, k)


def list_cap(
    catalogue: ItemCatalogue, config: DiversityConfig, allowed: np.ndarray, k: int
) -> ValueCap | None:
    """The cap one list of k items from the `allowed` ones is built under, if any: the
    configured one, tightened by the diversity's spread (see `spread_cap`)."""
    configured = (
        None if config.cap_field is None else ValueCap(config.cap_field, config.cap_per_value)
    )
    if config.mmr_lambda <= SPREAD_FROM or k == 0:
        return configured
    field = config.cap_field or next(
        (f for f in CATEGORY_FIELDS if len(catalogue.field_token_ids(f))), None
    )
    if field is None:
        return configured
    counts = catalogue.value_counts(catalogue.field_token_ids(field), allowed)
    spread = spread_cap(k, config.mmr_lambda, *counts)
    if configured is not None and configured.per_value <= spread:
        return configured
    if configured is None and spread >= k:
        return None
    return ValueCap(field, spread, soft=True, relaxed=configured)


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
