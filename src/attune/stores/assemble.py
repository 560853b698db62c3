"""A storage's contents as an in-memory `Dataset`, built the same way by every backend."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from attune.data.dataset import AttributeTable, Dataset, Interactions
from attune.data.events import AttributeValue, EventTypes, attribute_tokens
from attune.data.vocab import Vocabulary


def tokens_to_attributes(tokens: Iterable[str]) -> dict[str, AttributeValue]:
    """Inverse of `attribute_tokens` for categorical tokens: `field=value` -> {field: [values]}."""
    out: dict[str, list[str]] = {}
    for token in tokens:
        field, _, value = token.partition("=")
        out.setdefault(field, []).append(value)
    return {k: (v[0] if len(v) == 1 else v) for k, v in out.items()}


def attribute_table(
    n_rows: int, rows: Iterable[tuple[int, dict[str, Any]]], fields: tuple[str, ...]
) -> tuple[AttributeTable, dict[int, str]]:
    """The attribute table of `n_rows` ids from (index, attributes) pairs, and the titles."""
    tokens: list[list[str]] = [[] for _ in range(n_rows)]
    titles: dict[int, str] = {}
    for idx, attrs in rows:
        if isinstance(attrs.get("title"), str):
            titles[idx] = attrs["title"]
        tokens[idx] = attribute_tokens(attrs)
    if not any(tokens):
        return AttributeTable.empty(), titles
    # The fields a bulk import recorded, then any that later upserts brought, in order of
    # first appearance (items upserted into a store whose import had none record nothing).
    seen = dict.fromkeys(t.partition("=")[0] for row in tokens for t in row)
    return AttributeTable.from_rows(
        tokens, fields=(*fields, *(f for f in seen if f not in fields))
    ), titles


def assemble_dataset(
    name: str,
    columns: np.ndarray,
    users: Vocabulary,
    items: Vocabulary,
    event_types: EventTypes,
    item_rows: tuple[AttributeTable, dict[int, str]],
    user_rows: tuple[AttributeTable, dict[int, str]],
    has_timestamps: bool,
) -> Dataset:
    """`columns` are the log's [N, 6] float64 rows: seq, user, item, event type, time, value."""
    interactions = Interactions.sorted_by_time(
        columns[:, 1].astype(np.int64),
        columns[:, 2].astype(np.int64),
        columns[:, 4],
        columns[:, 3].astype(np.int16),
        columns[:, 5].astype(np.float32),
    )
    return Dataset(
        name=name,
        interactions=interactions,
        users=Vocabulary(users.ids),
        items=Vocabulary(items.ids),
        event_types=event_types,
        item_attributes=item_rows[0],
        user_attributes=user_rows[0],
        item_titles=item_rows[1],
        has_timestamps=has_timestamps,
    )
