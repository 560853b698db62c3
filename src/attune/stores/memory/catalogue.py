"""Item and user attributes in dictionaries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from attune.data.events import ItemUpdate, UserUpdate
from attune.data.vocab import Vocabulary
from attune.ports import ItemWindow


class MemoryCatalogue:
    """`ItemCatalogue` in memory."""

    def __init__(self, items: Vocabulary) -> None:
        self.items = items
        self.attributes: dict[int, dict[str, Any]] = {}
        self.windows: dict[int, ItemWindow] = {}

    def upsert_items(self, updates: Sequence[ItemUpdate]) -> None:
        for u in updates:
            idx = self.items.add(u.item_id)
            self.attributes[idx] = dict(u.attributes)
            window = ItemWindow(
                idx, _ts(u.available_from), _ts(u.available_until), _ts(u.created), u.blocked
            )
            if window[1:] != (None, None, None, False):
                self.windows[idx] = window
            else:
                self.windows.pop(idx, None)

    def item_attributes(self, item_id: str) -> dict[str, Any] | None:
        idx = self.items.get(item_id)
        attrs = self.attributes.get(idx)
        return None if attrs is None else dict(attrs)

    def all_item_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(sorted((i, dict(a)) for i, a in self.attributes.items()))

    def item_windows(self) -> Iterator[ItemWindow]:
        return iter(sorted(self.windows.values()))

    def changes(self, after: str | None) -> tuple[str, list[ItemUpdate]]:
        """No other process writes here (memory is one process's): nothing to report."""
        return after or "", []


class MemoryProfiles:
    """`UserProfiles` in memory."""

    def __init__(self, users: Vocabulary) -> None:
        self.users = users
        self.attributes: dict[int, dict[str, Any]] = {}

    def upsert_users(self, updates: Sequence[UserUpdate]) -> None:
        for u in updates:
            self.attributes[self.users.add(u.user_id)] = dict(u.attributes)

    def user_attributes(self, user_id: str) -> dict[str, Any] | None:
        attrs = self.attributes.get(self.users.get(user_id))
        return None if attrs is None else dict(attrs)

    def all_user_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(sorted((i, dict(a)) for i, a in self.attributes.items()))

    def changes(self, after: str | None) -> tuple[str, list[UserUpdate]]:
        """No other process writes here (memory is one process's): nothing to report."""
        return after or "", []

    def erase_user_attributes(self, user: int) -> int:
        return int(self.attributes.pop(user, None) is not None)


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()
