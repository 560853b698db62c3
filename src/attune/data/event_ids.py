"""Event ids for imported data, so that importing the same file again adds nothing.

A row keeps the id its source gave it. Any other row gets one derived from its content: user,
item, event type, time and value, plus its occurrence number among the identical rows of that
user (so two identical events in a file stay two events, and stay the same two on the next
import). Ids are unique per user, as the event log requires.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np

from attune.data.dataset import Dataset

_SEPARATOR = "\x1f"
"""Between the fields of the hashed content (the unit separator: not in any valid id)."""


def content_event_ids(dataset: Dataset) -> np.ndarray:
    """A deterministic id per interaction row (object array of 32 hex characters)."""
    inter = dataset.interactions
    users, items = dataset.users.ids, dataset.items.ids
    types = dataset.event_types.names
    seen: dict[str, int] = {}
    out = np.empty(len(inter), object)
    rows = zip(
        inter.users.tolist(),
        inter.items.tolist(),
        inter.event_types.tolist(),
        inter.timestamps.tolist(),
        inter.values.astype(np.float64).tolist(),
        strict=True,
    )
    for n, (u, i, t, ts, v) in enumerate(rows):
        value = "" if math.isnan(v) else repr(v)
        content = _SEPARATOR.join((users[u], items[i], types[t], repr(ts), value))
        occurrence = seen.get(content, 0)
        seen[content] = occurrence + 1
        digest = hashlib.blake2b(f"{content}{_SEPARATOR}{occurrence}".encode(), digest_size=16)
        out[n] = digest.hexdigest()
    return out


def with_event_ids(dataset: Dataset) -> Dataset:
    """The dataset with an event id on every row: the source's where it gave one, else the
    row's content id."""
    inter = dataset.interactions
    ids = content_event_ids(dataset)
    if inter.event_ids is not None:
        given = np.array([e is not None for e in inter.event_ids], bool)
        ids[given] = inter.event_ids[given]
    return replace(dataset, interactions=replace(inter, event_ids=ids))
