"""Item and user attributes as JSON in hashes by index (one slot each)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from attune.data.events import ItemUpdate, UserUpdate
from attune.ports import ItemWindow
from attune.stores.redis.changes import ChangeFeed
from attune.stores.redis.connection import Client
from attune.stores.redis.layout import global_key
from attune.stores.redis.vocab import RedisVocabulary

ITEM_ATTRS = global_key("catalogue", "attrs")
ITEM_WINDOWS = global_key("catalogue", "windows")
USER_ATTRS = global_key("profiles", "attrs")
ITEM_CHANGES = global_key("catalogue", "changes")
USER_CHANGES = global_key("profiles", "changes")


class RedisCatalogue:
    """`ItemCatalogue` in Redis: the item vocabulary grows first, then both hashes change in
    one MULTI (one slot)."""

    def __init__(self, client: Client, items: RedisVocabulary) -> None:
        self._r, self.items = client, items
        self._changes = ChangeFeed(client, ITEM_CHANGES)

    def upsert_items(self, updates: Sequence[ItemUpdate]) -> None:
        indices = self.items.add_many([u.item_id for u in updates])
        pipe = self._r.pipeline(transaction=True)
        for u, idx in zip(updates, indices, strict=True):
            pipe.hset(ITEM_ATTRS, str(idx), json.dumps(u.attributes))
            window = [_ts(u.available_from), _ts(u.available_until), _ts(u.created), u.blocked]
            if window != [None, None, None, False]:
                pipe.hset(ITEM_WINDOWS, str(idx), json.dumps(window))
            else:
                pipe.hdel(ITEM_WINDOWS, str(idx))
        self._changes.add(pipe, [u.model_dump_json() for u in updates])
        pipe.execute()

    def changes(self, after: str | None) -> tuple[str, list[ItemUpdate]]:
        return _updates(self._changes.after(after), ItemUpdate)

    def set_attributes(self, rows: dict[int, dict[str, Any]]) -> None:
        """Bulk attributes by index (imports)."""
        _set_rows(self._r, ITEM_ATTRS, rows)

    def item_attributes(self, item_id: str) -> dict[str, Any] | None:
        idx = self.items.get(item_id)
        raw = self._r.hget(ITEM_ATTRS, str(idx)) if idx >= 0 else None
        return None if raw is None else dict(json.loads(raw))

    def all_item_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return _all(self._r, ITEM_ATTRS)

    def item_windows(self) -> Iterator[ItemWindow]:
        rows = self._r.hgetall(ITEM_WINDOWS)
        return iter(sorted(ItemWindow(int(k), *json.loads(v)) for k, v in rows.items()))


class RedisProfiles:
    """`UserProfiles` in Redis."""

    def __init__(self, client: Client, users: RedisVocabulary) -> None:
        self._r, self.users = client, users
        self._changes = ChangeFeed(client, USER_CHANGES)

    def upsert_users(self, updates: Sequence[UserUpdate]) -> None:
        indices = self.users.add_many([u.user_id for u in updates])
        pipe = self._r.pipeline(transaction=True)
        for u, idx in zip(updates, indices, strict=True):
            pipe.hset(USER_ATTRS, str(idx), json.dumps(dict(u.attributes)))
        self._changes.add(pipe, [u.model_dump_json() for u in updates])
        pipe.execute()

    def changes(self, after: str | None) -> tuple[str, list[UserUpdate]]:
        return _updates(self._changes.after(after), UserUpdate)

    def set_attributes(self, rows: dict[int, dict[str, Any]]) -> None:
        _set_rows(self._r, USER_ATTRS, rows)

    def user_attributes(self, user_id: str) -> dict[str, Any] | None:
        idx = self.users.get(user_id)
        raw = self._r.hget(USER_ATTRS, str(idx)) if idx >= 0 else None
        return None if raw is None else dict(json.loads(raw))

    def all_user_attributes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return _all(self._r, USER_ATTRS)

    def erase_user_attributes(self, user: int) -> int:
        return int(self._r.hdel(USER_ATTRS, str(user)))


_U = TypeVar("_U", ItemUpdate, UserUpdate)


def _updates(read: tuple[str, list[str]], kind: type[_U]) -> tuple[str, list[_U]]:
    return read[0], [kind.model_validate_json(p) for p in read[1]]


_HSET_CHUNK = 10_000
"""Fields per HSET: an import of millions of rows is many commands, none blocking Redis long."""


def _set_rows(client: Client, key: str, rows: dict[int, dict[str, Any]]) -> None:
    fields = [(str(i), json.dumps(a)) for i, a in rows.items()]
    for start in range(0, len(fields), _HSET_CHUNK):
        client.hset(key, mapping=dict(fields[start : start + _HSET_CHUNK]))


def _all(client: Client, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = client.hgetall(key)
    return iter(sorted((int(k), dict(json.loads(v))) for k, v in rows.items()))


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()
