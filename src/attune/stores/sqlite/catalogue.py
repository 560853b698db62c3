"""Item and user attributes in the `items` and `users` tables."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from attune.data.events import AttributeValue, ItemUpdate, UserUpdate
from attune.ports import ItemWindow
from attune.stores.sqlite.database import Database


class SQLiteCatalogue:
    """`ItemCatalogue`: attributes (with title), availability window and blocklist per item."""

    def __init__(self, database: Database) -> None:
        self._d = database

    def upsert_items(self, updates: Sequence[ItemUpdate]) -> None:
        with self._d.transaction() as db:
            self._d.grow("items", (u.item_id for u in updates))
            db.executemany(
                "UPDATE items SET attributes=?, title=COALESCE(?, title), available_from=?, "
                "available_until=?, created=?, blocked=? WHERE ext_id=?",
                [
                    (
                        json.dumps(u.attributes),
                        title_of(u.attributes),
                        _ts(u.available_from),
                        _ts(u.available_until),
                        _ts(u.created),
                        int(u.blocked),
                        u.item_id,
                    )
                    for u in updates
                ],
            )

    def item_attributes(self, item_id: str) -> dict[str, Any] | None:
        return _attributes(self._d, "items", item_id)

    def all_item_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return _all_attributes(self._d, "items")

    def item_windows(self) -> Iterator[ItemWindow]:
        for idx, av_from, av_until, created, blocked in self._d.db.execute(
            "SELECT idx, available_from, available_until, created, blocked FROM items WHERE "
            "available_from IS NOT NULL OR available_until IS NOT NULL OR created IS NOT NULL "
            "OR blocked"
        ):
            yield ItemWindow(int(idx), av_from, av_until, created, bool(blocked))

    def changes(self, after: str | None) -> tuple[str, list[ItemUpdate]]:
        """No other process writes here (one process serves the database): nothing to report."""
        return after or "", []


class SQLiteProfiles:
    """`UserProfiles`: user attributes."""

    def __init__(self, database: Database) -> None:
        self._d = database

    def upsert_users(self, updates: Sequence[UserUpdate]) -> None:
        with self._d.transaction() as db:
            self._d.grow("users", (u.user_id for u in updates))
            db.executemany(
                "UPDATE users SET attributes=? WHERE ext_id=?",
                [(json.dumps(u.attributes), u.user_id) for u in updates],
            )

    def user_attributes(self, user_id: str) -> dict[str, Any] | None:
        return _attributes(self._d, "users", user_id)

    def all_user_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return _all_attributes(self._d, "users")

    def changes(self, after: str | None) -> tuple[str, list[UserUpdate]]:
        """No other process writes here (one process serves the database): nothing to report."""
        return after or "", []

    def erase_user_attributes(self, user: int) -> int:
        return int(
            self._d.db.execute(
                "UPDATE users SET attributes=NULL WHERE idx=? AND attributes IS NOT NULL", (user,)
            ).rowcount
        )


def _attributes(d: Database, table: str, ext_id: str) -> dict[str, Any] | None:
    row = d.db.execute(f"SELECT attributes FROM {table} WHERE ext_id=?", (ext_id,)).fetchone()
    return None if row is None or row[0] is None else dict(json.loads(row[0]))


def _all_attributes(d: Database, table: str) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = d.db.execute(
        f"SELECT idx, attributes FROM {table} WHERE attributes IS NOT NULL ORDER BY idx"
    ).fetchall()
    for idx, raw in rows:
        yield int(idx), dict(json.loads(raw))


def title_of(attributes: dict[str, AttributeValue]) -> str | None:
    title = attributes.get("title")
    return title if isinstance(title, str) else None


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()
