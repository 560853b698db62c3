"""Catalogue ports: item attributes and availability, user attributes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from attune.data.events import ItemUpdate, UserUpdate


class ItemWindow(NamedTuple):
    """When an item may be shown, and whether it is blocked (times in epoch seconds)."""

    item: int
    available_from: float | None
    available_until: float | None
    created: float | None
    blocked: bool


class ItemCatalogue(Protocol):
    """Item attributes (including `title` and `text`), availability and blocklist."""

    def upsert_items(self, updates: Sequence[ItemUpdate]) -> None:
        """Replace the attributes and availability of items, adding unknown ids."""
        ...

    def item_attributes(self, item_id: str) -> dict[str, Any] | None:
        """The stored attributes of an item; None when it has none or is unknown."""
        ...

    def all_item_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(item index, attributes) of every item that has any, by index."""
        ...

    def item_windows(self) -> Iterator[ItemWindow]:
        """The availability of every item that sets any of it."""
        ...

    def changes(self, after: str | None) -> tuple[str, list[ItemUpdate]]:
        """(position, updates): the item updates other processes stored after the position
        `after`, oldest first, and the position to ask from next; `after` None gives the
        current position and no updates. How servers sharing a store learn of each other's
        catalogue changes; a backend owned by one process has none to report."""
        ...


class UserProfiles(Protocol):
    """User attributes (the cold-start profile's input)."""

    def upsert_users(self, updates: Sequence[UserUpdate]) -> None: ...

    def user_attributes(self, user_id: str) -> dict[str, Any] | None: ...

    def all_user_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(user index, attributes) of every user that has any, by index."""
        ...

    def erase_user_attributes(self, user: int) -> int:
        """Drop a user's attributes; 1 when there were any."""
        ...

    def changes(self, after: str | None) -> tuple[str, list[UserUpdate]]:
        """User updates other processes stored after `after`, as `ItemCatalogue.changes`."""
        ...
