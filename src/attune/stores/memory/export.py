"""The in-memory backend's contents as a `Dataset`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from attune.data.dataset import Dataset
from attune.stores.assemble import assemble_dataset, attribute_table

if TYPE_CHECKING:
    from attune.stores.memory.storage import MemoryStorage


def to_dataset(storage: MemoryStorage, meta: dict[str, object], *, events: bool) -> Dataset:
    columns = storage.events.event_columns() if events else np.empty((0, 6))
    fields = meta.get("fields", ((), ()))
    assert isinstance(fields, tuple)
    return assemble_dataset(
        str(meta.get("name", "memory")),
        columns,
        storage.users,
        storage.items,
        storage.event_types(),
        attribute_table(len(storage.items), storage.catalogue.all_item_attributes(), fields[0]),
        attribute_table(len(storage.users), storage.profiles.all_user_attributes(), fields[1]),
        bool(meta.get("has_timestamps", True)),
    )
